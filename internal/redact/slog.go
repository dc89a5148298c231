package redact

import (
	"context"
	"encoding"
	"fmt"
	"io"
	"log/slog"
)

// Handler is a slog.Handler that masks every record before the handler it
// wraps formats it: the message, every string attribute, and every other
// attribute as the text a handler prints for it (an error, a struct). It
// masks with the redactor current returns at that moment, so a console
// logger made once at start masks the secrets the admin enters later.
//
// Formatting can turn a value the redactor leaves alone (a secret of 3
// bytes inside a word) into one it masks anywhere (the 4-byte quoted form
// `ab\"`): NewLogger also masks the formatted line.
type Handler struct {
	next    slog.Handler
	current func() *Redactor
}

// NewHandler returns a Handler that masks with current() into next.
// current may return nil (nothing to mask yet).
func NewHandler(next slog.Handler, current func() *Redactor) *Handler {
	return &Handler{next: next, current: current}
}

// Enabled reports whether next handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle masks r and passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	m := h.current()
	out := slog.NewRecord(r.Time, r.Level, m.MaskString(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(m, a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs masks attrs with the redactor of now: they are formatted once.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	m := h.current()
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = maskAttr(m, a)
	}
	return &Handler{next: h.next.WithAttrs(masked), current: h.current}
}

// WithGroup passes the group on.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), current: h.current}
}

// maskAttr masks one attribute. Numbers, booleans, times and durations
// cannot show a secret and stay as they are; anything else becomes the
// masked text a text handler would print for it.
func maskAttr(m *Redactor, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, m.MaskString(v.String()))
	case slog.KindGroup:
		group := v.Group()
		masked := make([]any, len(group))
		for i, g := range group {
			masked[i] = maskAttr(m, g)
		}
		return slog.Group(a.Key, masked...)
	case slog.KindAny:
		// Always as masked text, the way a text handler prints it, so
		// what is printed is what was masked.
		return slog.String(a.Key, m.MaskString(anyText(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// anyText is how slog's text handler prints a value of kind Any.
func anyText(v any) string {
	switch x := v.(type) {
	case encoding.TextMarshaler:
		if b, err := x.MarshalText(); err == nil {
			return string(b)
		}
	case []byte:
		return string(x)
	case error:
		return x.Error()
	}
	return fmt.Sprintf("%+v", v)
}

// MaskingWriter masks each write, a whole line or several, with the
// redactor current returns at that moment. slog's handlers write each
// record in one write; for streams cut anywhere use LineWriter.
type MaskingWriter struct {
	w       io.Writer
	current func() *Redactor
}

// NewMaskingWriter returns a MaskingWriter into w.
func NewMaskingWriter(w io.Writer, current func() *Redactor) *MaskingWriter {
	return &MaskingWriter{w: w, current: current}
}

// Write masks p and writes it; it reports len(p) unless w fails.
func (m *MaskingWriter) Write(p []byte) (int, error) {
	if _, err := m.w.Write(m.current().Mask(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// NewValuesWriter returns a MaskingWriter into w that masks registered
// values only (Redactor.MaskValues): for a command's report on stdout,
// built from values masked at their source, which the key-name rule would
// break (a JSON field "secret": true).
func NewValuesWriter(w io.Writer, current func() *Redactor) io.Writer {
	return valuesWriter{w: w, current: current}
}

type valuesWriter struct {
	w       io.Writer
	current func() *Redactor
}

func (m valuesWriter) Write(p []byte) (int, error) {
	if _, err := m.w.Write(m.current().MaskValues(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// NewLogger returns a text logger into w that masks every record with
// current() before it is formatted (Handler) and every line after
// (MaskingWriter): the console of the wizard and the commands.
func NewLogger(w io.Writer, opts *slog.HandlerOptions, current func() *Redactor) *slog.Logger {
	return slog.New(NewHandler(slog.NewTextHandler(NewMaskingWriter(w, current), opts), current))
}
