package wizard

import (
	"fmt"
	"reflect"
	"strings"
)

// The one registry of secret fields: a string field of the state is a
// secret when its struct tag says secret:"<what it is>", and nowhere else.
// What it is names the secret in the support bundle's redaction report.
// Every masker (logs, review, job log, bundle), the pages and the answers
// export read secrets through SecretFields, so a field tagged here is
// masked everywhere, and TestEverySecretLookingFieldIsRegistered fails
// when a field that looks secret is added without a tag.
const secretTag = "secret"

// SecretField is one registered secret of a state.
type SecretField struct {
	Name  string  // Go path within State: "Database.AdminPassword"
	What  string  // what it is, for reports: "database admin password"
	Value *string // the field itself: read it, clear it or set it
}

// SecretFields returns every registered secret field of st, empty or not,
// in declaration order.
func (st *State) SecretFields() []SecretField {
	var out []SecretField
	walkSecrets(reflect.ValueOf(st).Elem(), "", func(name, what string, v reflect.Value) {
		out = append(out, SecretField{Name: name, What: what, Value: v.Addr().Interface().(*string)})
	})
	return out
}

// Secrets returns every secret value the admin has entered, for masking in
// logs, pages and support bundles. Empty values are left out.
func (st State) Secrets() []string {
	var out []string
	for _, f := range st.SecretFields() {
		if *f.Value != "" {
			out = append(out, *f.Value)
		}
	}
	return out
}

// walkSecrets calls fn for every tagged field of the struct v, looking into
// nested structs (not into maps and slices: a secret there would not be
// found, which the registry test forbids).
func walkSecrets(v reflect.Value, prefix string, fn func(name, what string, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := strings.TrimPrefix(prefix+"."+f.Name, ".")
		if what, ok := f.Tag.Lookup(secretTag); ok {
			if f.Type.Kind() != reflect.String || what == "" {
				panic(fmt.Sprintf("wizard: secret field %s must be a string with a description", name))
			}
			// "what,if=Flag": secret only when the struct's bool field
			// Flag is set (a free key/value the admin marked secret).
			if w, flag, cond := strings.Cut(what, ",if="); cond {
				what = w
				if !v.FieldByName(flag).Bool() {
					continue
				}
			}
			fn(name, what, v.Field(i))
			continue
		}
		switch f.Type.Kind() {
		case reflect.Struct:
			walkSecrets(v.Field(i), name, fn)
		case reflect.Slice:
			if f.Type.Elem().Kind() == reflect.Struct {
				for j := range v.Field(i).Len() {
					walkSecrets(v.Field(i).Index(j), fmt.Sprintf("%s[%d]", name, j), fn)
				}
			}
		}
	}
}
