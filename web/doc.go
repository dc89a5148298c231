// Package web holds the wizard's templ views: the layout, form partials and
// one page per screen. Views take typed view models shaped like the screen
// and never call services; secrets are never part of a view model.
package web
