// Package upgrade plans the move from the installed CARTO release to another
// one: the env.tpl variables added and removed, the keys the new env.tpl
// overrides in customer.env, the services added, removed or renamed in
// docker-compose.yml with each service's image before and after (resolved
// through the generated .env as Compose does), and the MIN_VERSION rule that
// can block the upgrade until a newer customer package is uploaded. It only
// reads: it writes no file, runs no git, Compose or database command.
package upgrade
