package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// draftTTL is how long a typed value that was not saved is held for its
// form.
const draftTTL = 30 * time.Minute

// drafts holds, in memory only, the secrets and files an admin typed or
// chose on a form that was then refused or re-rendered without saving
// them: a browser never gets a secret back in a page, and cannot keep a
// chosen file across a re-render, so without this every other field's
// mistake would make the admin type them again. Entries belong to one
// session and one step, and expire.
type drafts struct {
	mu sync.Mutex
	m  map[string]draft
}

type draft struct {
	values map[string]string
	at     time.Time
}

func newDrafts() *drafts { return &drafts{m: map[string]draft{}} }

// draftKey is the session's and the step's key: a hash of the session
// cookie, so the table never holds a session credential.
func draftKey(r *http.Request, step wizard.Step) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(c.Value + "\x00" + string(step)))
	return hex.EncodeToString(sum[:])
}

// get returns the held values of key (never nil).
func (d *drafts) get(key string, now time.Time) map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	if dr, ok := d.m[key]; ok && now.Sub(dr.at) < draftTTL {
		for k, v := range dr.values {
			out[k] = v
		}
	}
	return out
}

// hold replaces the held values of key with values (empty ones left out);
// nothing to hold drops the entry.
func (d *drafts) hold(key string, values map[string]string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, dr := range d.m {
		if now.Sub(dr.at) >= draftTTL {
			delete(d.m, k)
		}
	}
	kept := map[string]string{}
	for k, v := range values {
		if v != "" {
			kept[k] = v
		}
	}
	if key == "" || len(kept) == 0 {
		delete(d.m, key)
		return
	}
	d.m[key] = draft{values: kept, at: now}
}

// drop forgets the held values of key: the form was saved.
func (d *drafts) drop(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, key)
}
