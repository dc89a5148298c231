package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// MaxSessions is how many sessions are kept; signing in beyond it ends the
// oldest, so the secrets file stays small whatever happens.
const MaxSessions = 32

const (
	sessionIDLen     = 16                   // random bytes naming a session
	cookiePayloadLen = sessionIDLen + 8 + 8 // id, generation, expiry
	// shortIDLen is how many hex digits of a session's hash Sessions shows
	// and EndSession takes at least.
	shortIDLen = 12
)

// sessionRecord is a signed-in session as the secrets file keeps it: the
// SHA-256 of its id (the cookie holds the id itself, and the HMAC key, not
// the file, is what makes a cookie), when it began and ends, and where from.
type sessionRecord struct {
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Remote  string    `json:"remote,omitempty"`
}

// SessionInfo describes a live session for `carto-setup sessions`. ID is a
// short public name for it, usable with EndSession; it cannot be turned
// into a cookie.
type SessionInfo struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Remote  string    `json:"remote,omitempty"`
}

func sessionHash(id []byte) string {
	sum := sha256.Sum256(id)
	return hex.EncodeToString(sum[:])
}

// live reports whether the session with this hash is listed and unexpired.
func (s secrets) live(hash string, now time.Time) bool {
	for _, r := range s.Sessions {
		if r.Hash == hash {
			return now.Before(r.Expires)
		}
	}
	return false
}

// prune drops expired sessions and, beyond MaxSessions, the oldest.
func (s *secrets) prune(now time.Time) {
	s.Sessions = slices.DeleteFunc(s.Sessions, func(r sessionRecord) bool { return !now.Before(r.Expires) })
	if over := len(s.Sessions) - MaxSessions; over > 0 {
		s.Sessions = slices.Delete(s.Sessions, 0, over)
	}
}

// update changes the secrets file under the in-process mutex and the
// cross-process flock, reading it afresh first, and drops expired sessions
// on the way. Nothing is written when change returns an error.
func (a *Auth) update(change func(s *secrets) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	unlock, err := a.lockFile()
	if err != nil {
		return err
	}
	defer unlock()
	s, err := a.readLocked()
	if err != nil {
		return err
	}
	s.Sessions = slices.Clone(s.Sessions)
	if err := change(&s); err != nil {
		return err
	}
	s.prune(a.now())
	return a.writeLocked(s)
}

// SignOut ends the session of a cookie on the server, so that the cookie
// no longer works even though it is still signed and unexpired. A cookie
// that is not a valid session is not an error: there is nothing to end.
func (a *Auth) SignOut(cookie string) error {
	s, err := a.load()
	if err != nil {
		return err
	}
	id, ok := verifyCookie(cookie, s, a.now())
	if !ok {
		return nil
	}
	hash := sessionHash(id)
	return a.update(func(s *secrets) error {
		s.Sessions = slices.DeleteFunc(s.Sessions, func(r sessionRecord) bool { return r.Hash == hash })
		return nil
	})
}

// Sessions lists the live sessions, oldest first. It reads the state
// directory, so a separate `carto-setup sessions` process sees the
// sessions of a running wizard.
func (a *Auth) Sessions() ([]SessionInfo, error) {
	s, err := a.load()
	if err != nil {
		return nil, err
	}
	now := a.now()
	var out []SessionInfo
	for _, r := range s.Sessions {
		if s.Locked || !now.Before(r.Expires) {
			continue
		}
		out = append(out, SessionInfo{ID: r.Hash[:shortIDLen], Created: r.Created, Expires: r.Expires, Remote: r.Remote})
	}
	return out, nil
}

// ErrNoSession is returned by EndSession when no live session has the ID.
var ErrNoSession = errors.New("auth: no such session")

// EndSession ends the live session whose ID (as Sessions shows it, or a
// longer prefix of its hash) is id. A running wizard refuses the session's
// cookie from its next request on.
func (a *Auth) EndSession(id string) error {
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) < shortIDLen {
		return fmt.Errorf("auth: end session: the ID must have at least %d characters, as `carto-setup sessions` lists it", shortIDLen)
	}
	return a.update(func(s *secrets) error {
		n := len(s.Sessions)
		s.Sessions = slices.DeleteFunc(s.Sessions, func(r sessionRecord) bool { return strings.HasPrefix(r.Hash, id) })
		switch {
		case len(s.Sessions) == n:
			return ErrNoSession
		case n-len(s.Sessions) > 1:
			return fmt.Errorf("auth: end session: %q names more than one session; give more of its ID", id)
		}
		return nil
	})
}

// EndAll ends every session and returns how many were live. The token stays
// valid, so the admin can sign in again; NewToken ends the sessions and
// replaces the token.
func (a *Auth) EndAll() (int, error) {
	ended := 0
	err := a.update(func(s *secrets) error {
		now := a.now()
		for _, r := range s.Sessions {
			if now.Before(r.Expires) {
				ended++
			}
		}
		s.Sessions = nil
		return nil
	})
	return ended, err
}

// generation returns the token generation, which NewToken and Lock bump;
// -1 when the secrets cannot be read.
func (a *Auth) generation() int64 {
	s, err := a.load()
	if err != nil {
		return -1
	}
	return s.Generation
}
