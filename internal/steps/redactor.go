package steps

import (
	"encoding/json"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Secrets returns every secret st holds: each field of the wizard's
// registry (wizard.State.SecretFields) and the value of each
// secret-looking key of the uploaded customer.env (the licence's own
// secrets). It is what the console masks.
func Secrets(st wizard.State) []redact.Secret {
	var secrets []redact.Secret
	for _, f := range st.SecretFields() {
		secrets = append(secrets, redact.Secret{What: f.What, Value: *f.Value})
	}
	return append(secrets, redact.EnvSecrets([]byte(st.Package.CustomerEnv))...)
}

// StateSecrets follows the secrets of a state file for a logger made
// before the admin entered them (redact.NewLogger): Current rebuilds the
// redactor when the file changed, checked with one stat per call. It reads
// the file itself rather than through the Store, so that a line logged
// while the store is being updated does not wait for (or deadlock on) the
// store's lock.
type StateSecrets struct {
	mu   sync.Mutex
	path string
	seen fileStamp
	r    *redact.Redactor
	// extra is masked whatever the file holds (secrets the command
	// line has before they are saved).
	extra []redact.Secret
}

type fileStamp struct {
	ino     uint64
	size    int64
	modTime time.Time
}

// NewStateSecrets returns a StateSecrets that masks extra until Watch
// names the state file.
func NewStateSecrets(extra ...redact.Secret) *StateSecrets {
	return &StateSecrets{extra: extra, r: redact.New(extra)}
}

// Watch makes Current follow the state file at path.
func (s *StateSecrets) Watch(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.path, s.seen = path, fileStamp{}
}

// Current returns the redactor of the state file's secrets as the file is
// now (and of the extra secrets). When the file cannot be read, the last
// redactor stays.
func (s *StateSecrets) Current() *redact.Redactor {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" {
		return s.r
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return s.r
	}
	stamp := fileStamp{size: fi.Size(), modTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		stamp.ino = st.Ino
	}
	if stamp == s.seen {
		return s.r
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return s.r
	}
	var st wizard.State
	if json.Unmarshal(b, &st) != nil {
		return s.r
	}
	s.r, s.seen = redact.New(append(Secrets(st), s.extra...)), stamp
	return s.r
}
