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
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
)

// File names inside the state directory.
const (
	secretsFile = "auth.json" // token hash and session key; 0600
	TokenFile   = "token"     // the plain token, for the admin to read; 0600
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
}

// Auth checks tokens and sessions against the secrets in the state
// directory. It re-reads the secrets file when it changes on disk, so that
// `carto-setup token` run in another process ends every session of a wizard
// that is already running.
type Auth struct {
	dir string
	now func() time.Time

	mu      sync.Mutex
	cached  secrets
	modTime time.Time
	size    int64
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
	s, err := a.readLocked()
	if err != nil {
		return err
	}
	s.Locked = true
	s.Generation++
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
	a.modTime = time.Time{} // force a reload on next use
	return nil
}

// readLocked reads the secrets file, using the cached copy while the file is
// unchanged on disk. a.mu must be held.
func (a *Auth) readLocked() (secrets, error) {
	fi, err := os.Stat(a.path())
	if err != nil {
		return secrets{}, fmt.Errorf("auth: stat secrets: %w", err)
	}
	if fi.ModTime().Equal(a.modTime) && fi.Size() == a.size {
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
	a.cached, a.modTime, a.size = s, fi.ModTime(), fi.Size()
	return s, nil
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
// cookie value.
func (a *Auth) SignIn(token string) (string, error) {
	if !a.matches(strings.TrimSpace(token)) {
		return "", ErrBadToken
	}
	s, err := a.load()
	if err != nil {
		return "", err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("auth: session id: %w", err)
	}
	payload := make([]byte, 0, 32)
	payload = append(payload, id...)
	payload = binary.BigEndian.AppendUint64(payload, uint64(s.Generation))
	payload = binary.BigEndian.AppendUint64(payload, uint64(a.now().Add(SessionTTL).Unix()))
	return encodeCookie(payload, s.SessionKey), nil
}

func encodeCookie(payload []byte, key string) string {
	k, _ := hex.DecodeString(key)
	mac := hmac.New(sha256.New, k)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Session reports whether a cookie value is a valid, unexpired session of
// the current token generation.
func (a *Auth) Session(cookie string) bool {
	s, err := a.load()
	if err != nil || s.Locked {
		return false
	}
	p, sig, ok := strings.Cut(cookie, ".")
	if !ok {
		return false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || len(payload) != 32 {
		return false
	}
	k, _ := hex.DecodeString(s.SessionKey)
	mac := hmac.New(sha256.New, k)
	mac.Write(payload)
	if !hmac.Equal(mac.Sum(nil), got) {
		return false
	}
	gen := int64(binary.BigEndian.Uint64(payload[16:24]))
	exp := int64(binary.BigEndian.Uint64(payload[24:32]))
	return gen == s.Generation && a.now().Unix() < exp
}
