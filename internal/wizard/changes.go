package wizard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// InstallRecord is what the last successful install applied: when, which
// release and package, the domain, and a keyed digest of every step's
// input. Comparing the digests with the current inputs tells which steps
// changed since the install (Changed).
type InstallRecord struct {
	At             time.Time `json:"at"`
	Release        string    `json:"release,omitempty"`
	PackageVersion string    `json:"package_version,omitempty"`
	Domain         string    `json:"domain,omitempty"`
	// Inputs are HMAC-SHA256 digests of each step's input under Key. The
	// inputs hold secrets; a keyed digest cannot be tried against guessed
	// passwords by whoever reads a support bundle, where Key is masked.
	Inputs map[Step]string `json:"inputs,omitempty"`
	Key    string          `json:"key,omitempty" secret:"change-tracking key"`
}

// Installed reports whether an install has succeeded. A state written
// before install records existed counts as installed when its install
// step is done; it then has no digests and shows no changes.
func (st State) Installed() bool {
	return !st.LastInstall.At.IsZero() || st.Done[Install]
}

// inputOf returns the part of the state a step's form sets, or nil for a
// step without input. A new step with input adds itself here.
func inputOf(st State, s Step) any {
	switch s {
	case Package:
		return []string{st.Package.CustomerEnv, st.Package.KeyJSON}
	case Domain:
		return st.Domain.Domain
	case Database:
		return []any{st.Database, st.Cache}
	case TLS:
		return st.TLS
	case Buckets:
		return st.Buckets
	case "advanced":
		return st.Advanced
	}
	return nil
}

func digest(key string, v any) string {
	b, _ := json.Marshal(v) // plain structs, strings and slices: never fails
	m := hmac.New(sha256.New, []byte(key))
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// RecordInstall remembers installed, the state an install just applied
// successfully, as the state's last install: the steps of st whose input
// differs from it are then "changed since install". release is the
// version the install ran.
func (st *State) RecordInstall(installed State, at time.Time, release string) {
	rec := InstallRecord{At: at.UTC(), Release: release, PackageVersion: installed.Package.Summary.PackageVersion,
		Domain: installed.Domain.Domain, Inputs: map[Step]string{}, Key: st.LastInstall.Key}
	if rec.Key == "" {
		rec.Key = rand.Text()
	}
	for _, s := range Steps {
		if in := inputOf(installed, s); in != nil {
			rec.Inputs[s] = digest(rec.Key, in)
		}
	}
	st.LastInstall = rec
}

// Changed returns the steps, in the wizard's order, whose input differs
// from what the last install applied. Nothing has changed before the
// first install.
func (st State) Changed() []Step {
	rec := st.LastInstall
	if len(rec.Inputs) == 0 {
		return nil
	}
	var out []Step
	for _, s := range Steps {
		in := inputOf(st, s)
		if in == nil {
			continue
		}
		if d, ok := rec.Inputs[s]; !ok || !hmac.Equal([]byte(d), []byte(digest(rec.Key, in))) {
			out = append(out, s)
		}
	}
	return out
}

// ChangedSinceInstall reports whether s is out of date with the running
// install: a step whose input changed, and Review, Install and Smoke once
// any input changed. Smoke is also out of date when it has not run since
// the last install.
func (st State) ChangedSinceInstall(s Step) bool {
	changed := st.Changed()
	switch s {
	case Review, Install:
		return len(changed) > 0
	case Smoke:
		if len(changed) > 0 {
			return true
		}
		run, ok := st.Checks[Smoke]
		return !st.LastInstall.At.IsZero() && (!ok || run.At.Before(st.LastInstall.At))
	}
	for _, c := range changed {
		if c == s {
			return true
		}
	}
	return false
}
