package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// File names inside the state directory.
const (
	secretsFile = "auth.json" // token hash, session key and live sessions; 0600
	TokenFile   = "token"     // the plain token, for the admin to read; 0600
	lockFile    = "auth.lock" // flock'd around every change of auth.json; 0600
)

// SessionTTL is how long a signed-in browser stays signed in.
const SessionTTL = 12 * time.Hour

// ErrBadToken is returned when a presented token does not match.
var ErrBadToken = errors.New("auth: wrong token")

// secrets is what the server keeps: never the token itself.
type secrets struct {
	TokenHash  string `json:"token_hash"`  // hex SHA-256 of the token
	SessionKey string `json:"session_key"` // hex HMAC key for cookies
	Generation int64  `json:"generation"`  // bumped by every new token
	Locked     bool   `json:"locked"`      // set when the admin locks the wizard
	// Sessions are the sessions signed in and not yet ended: a cookie is
	// valid only while its session is listed here, so that sign-out and
	// `carto-setup sessions --end-all` end it on the server.
	Sessions []sessionRecord `json:"sessions,omitempty"`
}

// Auth checks tokens and sessions against the secrets in the state
// directory. It re-reads the secrets file when it changes on disk, so that
// `carto-setup token` run in another process ends every session of a wizard
// that is already running.
type Auth struct {
	dir string
	now func() time.Time

	mu     sync.Mutex
	cached secrets
	seen   fileVersion // of the file cached holds
}

// Open loads the secrets from stateDir, creating a token when there is none
// yet. It returns the plain token when one was created or can still be read
// from the token file, so the console can print the sign-in URL; otherwise
// an empty string.
func Open(stateDir string, now func() time.Time) (*Auth, string, error) {
	a := &Auth{dir: stateDir, now: now}
	if _, err := os.Stat(a.path()); errors.Is(err, os.ErrNotExist) {
		tok, err := a.NewToken()
		return a, tok, err
	}
	if _, err := a.load(); err != nil {
		return nil, "", err
	}
	tok, err := os.ReadFile(filepath.Join(stateDir, TokenFile))
	if err != nil || !a.matches(strings.TrimSpace(string(tok))) {
		// The token file was removed or edited: issue a fresh token so the
		// admin is never left without a way in.
		t, err := a.NewToken()
		return a, t, err
	}
	return a, strings.TrimSpace(string(tok)), nil
}

func (a *Auth) path() string { return filepath.Join(a.dir, secretsFile) }

// NewToken creates a fresh token, stores its hash with a new session key (so
// every existing session ends), writes the plain token to the 0600 token file
// and returns it.
//
// The generation it bumps also lifts every address lockout of a Throttle
// made by NewThrottle, in this process or in a running wizard.
func (a *Auth) NewToken() (string, error) {
	raw := make([]byte, 20)
	key := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("auth: random token: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("auth: random key: %w", err)
	}
	tok := hex.EncodeToString(raw)
	a.mu.Lock()
	defer a.mu.Unlock()
	unlock, err := a.lockFile()
	if err != nil {
		return "", err
	}
	defer unlock()
	prev, _ := a.readLocked()
	s := secrets{TokenHash: hashToken(tok), SessionKey: hex.EncodeToString(key), Generation: prev.Generation + 1}
	if err := a.writeLocked(s); err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(filepath.Join(a.dir, TokenFile), []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("auth: write token file: %w", err)
	}
	return tok, nil
}

// Lock closes the wizard: every session ends and sign-in is refused until
// NewToken issues a new token.
func (a *Auth) Lock() error {
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
	s.Locked = true
	s.Generation++
	s.Sessions = nil
	if err := a.writeLocked(s); err != nil {
		return err
	}
	return os.Remove(filepath.Join(a.dir, TokenFile))
}

// Locked reports whether the wizard has been locked.
func (a *Auth) Locked() bool {
	s, err := a.load()
	return err == nil && s.Locked
}

func (a *Auth) writeLocked(s secrets) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("auth: encode: %w", err)
	}
	if err := atomicfile.WriteFile(a.path(), b, 0o600); err != nil {
		return fmt.Errorf("auth: write secrets: %w", err)
	}
	a.seen = fileVersion{} // force a reload on next use
	return nil
}

// fileVersion identifies one version of the secrets file. Every write
// renames a new file into place, so the inode alone tells versions apart
// even when two writes share a modification time and a size; the time and
// size guard against a reused inode number.
type fileVersion struct {
	ino     uint64
	modTime time.Time
	size    int64
}

func versionOf(fi os.FileInfo) fileVersion {
	v := fileVersion{modTime: fi.ModTime(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		v.ino = st.Ino
	}
	return v
}

// readLocked reads the secrets file, using the cached copy while the file is
// unchanged on disk. a.mu must be held.
func (a *Auth) readLocked() (secrets, error) {
	fi, err := os.Stat(a.path())
	if err != nil {
		return secrets{}, fmt.Errorf("auth: stat secrets: %w", err)
	}
	v := versionOf(fi)
	if v == a.seen {
		return a.cached, nil
	}
	b, err := os.ReadFile(a.path())
	if err != nil {
		return secrets{}, fmt.Errorf("auth: read secrets: %w", err)
	}
	var s secrets
	if err := json.Unmarshal(b, &s); err != nil {
		return secrets{}, fmt.Errorf("auth: decode secrets: %w", err)
	}
	a.cached, a.seen = s, v
	return s, nil
}

// lockFile takes the exclusive flock that serialises every read-modify-write
// of the secrets file across processes (the wizard signing someone in while
// `carto-setup sessions --end-all` runs must not resurrect a session). a.mu
// must be held; call the returned function to release it.
func (a *Auth) lockFile() (func(), error) {
	f, err := os.OpenFile(filepath.Join(a.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("auth: open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("auth: lock: %w", err)
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}

func (a *Auth) load() (secrets, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.readLocked()
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func (a *Auth) matches(tok string) bool {
	s, err := a.load()
	if err != nil || s.Locked {
		return false
	}
	want, _ := hex.DecodeString(s.TokenHash)
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(want, got[:]) == 1
}

// SignIn checks a token and, when it matches, returns a signed session
// cookie value. It is SignInFrom without a client address.
func (a *Auth) SignIn(token string) (string, error) { return a.SignInFrom(token, "") }

// SignInFrom checks a token and, when it matches, records a new session
// signed in from remote (the client address, shown by Sessions) and returns
// its signed cookie value.
func (a *Auth) SignInFrom(token, remote string) (string, error) {
	if !a.matches(strings.TrimSpace(token)) {
		return "", ErrBadToken
	}
	id := make([]byte, sessionIDLen)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("auth: session id: %w", err)
	}
	now := a.now()
	var cookie string
	err := a.update(func(s *secrets) error {
		if s.Locked || s.TokenHash == "" {
			return ErrBadToken // locked or re-keyed between the check and now
		}
		s.Sessions = append(s.Sessions, sessionRecord{
			Hash: sessionHash(id), Created: now.UTC(), Expires: now.Add(SessionTTL).UTC(), Remote: remote,
		})
		payload := make([]byte, 0, cookiePayloadLen)
		payload = append(payload, id...)
		payload = binary.BigEndian.AppendUint64(payload, uint64(s.Generation))
		payload = binary.BigEndian.AppendUint64(payload, uint64(now.Add(SessionTTL).Unix()))
		cookie = encodeCookie(payload, s.SessionKey)
		return nil
	})
	if err != nil {
		return "", err
	}
	return cookie, nil
}

func encodeCookie(payload []byte, key string) string {
	k, _ := hex.DecodeString(key)
	mac := hmac.New(sha256.New, k)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Session reports whether a cookie value is a valid, unexpired session of
// the current token generation that has not been ended.
func (a *Auth) Session(cookie string) bool {
	s, err := a.load()
	if err != nil || s.Locked {
		return false
	}
	id, ok := verifyCookie(cookie, s, a.now())
	return ok && s.live(sessionHash(id), a.now())
}

// verifyCookie checks a cookie's signature, generation and expiry against
// s and returns the session id it carries.
func verifyCookie(cookie string, s secrets, now time.Time) ([]byte, bool) {
	p, sig, ok := strings.Cut(cookie, ".")
	if !ok {
		return nil, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || len(payload) != cookiePayloadLen {
		return nil, false
	}
	k, _ := hex.DecodeString(s.SessionKey)
	mac := hmac.New(sha256.New, k)
	mac.Write(payload)
	if !hmac.Equal(mac.Sum(nil), got) {
		return nil, false
	}
	gen := int64(binary.BigEndian.Uint64(payload[sessionIDLen : sessionIDLen+8]))
	exp := int64(binary.BigEndian.Uint64(payload[sessionIDLen+8:]))
	if gen != s.Generation || now.Unix() >= exp {
		return nil, false
	}
	return payload[:sessionIDLen], true
}
