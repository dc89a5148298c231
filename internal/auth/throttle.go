package auth

import (
	"slices"
	"sync"
	"time"
)

// Limits for wrong tokens from one client address.
const (
	FreeFailures    = 3                // failures allowed before any delay
	MaxFailures     = 10               // failures before the lockout
	LockoutDuration = 15 * time.Minute // how long a locked-out address waits
	maxDelay        = 30 * time.Second
)

// Verdict says whether a sign-in attempt from an address may proceed.
type Verdict struct {
	Allowed   bool
	LockedOut bool          // true when the address is locked out
	Wait      time.Duration // how long until the next attempt is allowed
}

// Throttle counts wrong tokens per client address: after FreeFailures each
// further failure doubles the wait before the next attempt, and after
// MaxFailures the address is locked out for LockoutDuration, even for the
// right token. Entries are forgotten once their lockout and window pass.
// A Throttle made by Auth.NewThrottle also forgets every entry when a new
// token is issued, so that `carto-setup token` lets an admin who shares an
// address (a NAT) with an attacker back in at once.
type Throttle struct {
	now func() time.Time
	// epoch, when set, names the token generation; a change lifts every
	// lockout.
	epoch func() int64

	mu        sync.Mutex
	state     map[string]*attempts
	lastEpoch int64
}

type attempts struct {
	failures  int
	nextTry   time.Time
	lockedTil time.Time
	last      time.Time
}

// NewThrottle returns an empty throttle using the given clock. Its
// lockouts end only with time; use Auth.NewThrottle for one that a new
// token also lifts.
func NewThrottle(now func() time.Time) *Throttle {
	return &Throttle{now: now, state: map[string]*attempts{}}
}

// NewThrottle returns an empty throttle on the Auth's clock whose lockouts
// end when a new token is issued, by this process or another one (the
// `carto-setup token` command), as well as with time.
func (a *Auth) NewThrottle() *Throttle {
	t := NewThrottle(a.now)
	t.epoch = a.generation
	t.lastEpoch = a.generation()
	return t
}

// sync forgets everything when the token generation changed. t.mu must be
// held.
func (t *Throttle) sync() {
	if t.epoch == nil {
		return
	}
	if e := t.epoch(); e != t.lastEpoch {
		clear(t.state)
		t.lastEpoch = e
	}
}

// LockedOut returns the addresses locked out now, for a status line.
func (t *Throttle) LockedOut() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sync()
	now := t.now()
	var out []string
	for addr, a := range t.state {
		if now.Before(a.lockedTil) {
			out = append(out, addr)
		}
	}
	slices.Sort(out)
	return out
}

// Check reports whether addr may try a token now.
func (t *Throttle) Check(addr string) Verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sync()
	now := t.now()
	a := t.state[addr]
	if a == nil {
		return Verdict{Allowed: true}
	}
	if now.Before(a.lockedTil) {
		return Verdict{LockedOut: true, Wait: a.lockedTil.Sub(now)}
	}
	if !a.lockedTil.IsZero() {
		// The lockout has ended: start afresh.
		delete(t.state, addr)
		return Verdict{Allowed: true}
	}
	if now.Before(a.nextTry) {
		return Verdict{Wait: a.nextTry.Sub(now)}
	}
	return Verdict{Allowed: true}
}

// Fail records a wrong token from addr and reports whether this failure
// locked the address out.
func (t *Throttle) Fail(addr string) (lockedOut bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sync()
	now := t.now()
	t.gc(now)
	a := t.state[addr]
	if a == nil {
		a = &attempts{}
		t.state[addr] = a
	}
	a.failures++
	a.last = now
	if a.failures >= MaxFailures {
		a.lockedTil = now.Add(LockoutDuration)
		return true
	}
	if a.failures > FreeFailures {
		d := time.Second << (a.failures - FreeFailures - 1)
		a.nextTry = now.Add(min(d, maxDelay))
	}
	return false
}

// Succeed forgets the failures of addr after a correct token.
func (t *Throttle) Succeed(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.state, addr)
}

// gc drops entries idle for longer than the lockout so the map stays small
// even under a scan from many addresses.
func (t *Throttle) gc(now time.Time) {
	for k, a := range t.state {
		if now.Sub(a.last) > LockoutDuration && now.After(a.lockedTil) {
			delete(t.state, k)
		}
	}
}
