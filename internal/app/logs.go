package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/carto-setup/carto-setup/internal/config"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/logstore"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/server"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// projectLogs is the wizard's one follower of the Compose project and
// the on-disk history it writes, started with the wizard and stopped with
// it. It serves the Logs page (server.ProjectLogs) and the install
// (deploy.ProjectLogs).
type projectLogs struct {
	*logstream.ProjectFollower
	store *logstore.Store
	eng   *engine.Client
	log   *slog.Logger
	dir   string // the release directory, whose env files hold secrets

	stop context.CancelFunc
	done chan struct{}

	mu      sync.Mutex
	secrets []string // the values the current masker was built from, sorted
}

// startLogs opens the log store in the state directory and starts the
// project follower over it, masking with every secret st and the
// release's env files know. Docker need not run yet: the follower retries
// until it does.
func startLogs(cfg config.Config, st wizard.State, log *slog.Logger) (*projectLogs, error) {
	eng, err := engine.LogClient()
	if err != nil {
		return nil, err
	}
	p := &projectLogs{eng: eng, log: log, dir: cfg.Dir, done: make(chan struct{})}
	masker, secrets := logMasker(st, cfg.Dir)
	p.secrets = secrets
	p.store, err = logstore.Open(logstore.Config{Dir: cfg.LogsPath(),
		MaxBytes: int64(cfg.LogHistoryMiB) << 20, Masker: masker, Log: log})
	if err != nil {
		eng.Close()
		return nil, err
	}
	p.ProjectFollower = logstream.NewProjectFollower(logstream.ProjectConfig{
		Project: cfg.Project, Docker: eng, History: p.store, Masker: masker, Log: log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go func() {
		defer close(p.done)
		p.Run(ctx)
	}()
	return p, nil
}

// Close stops the follower and closes the store, writing what it buffers.
func (p *projectLogs) Close() {
	p.stop()
	<-p.done
	if err := p.store.Close(); err != nil {
		p.log.Warn("closing the log store", "err", err)
	}
	p.eng.Close()
}

// Query, Scan and Services read the history (server.ProjectLogs).
func (p *projectLogs) Query(q logstore.Query) (logstore.Result, error) { return p.store.Query(q) }
func (p *projectLogs) Scan(q logstore.Query, fn func(logstore.Record) error) error {
	return p.store.Scan(q, fn)
}
func (p *projectLogs) Services() ([]logstore.ServiceInfo, error) { return p.store.Services() }

// learn masks with the secrets of st and of the release's env files from
// now on, if they changed: the wizard calls it after every save of the
// state, so a password typed into a step is masked in the logs from then.
func (p *projectLogs) learn(st wizard.State) {
	masker, secrets := logMasker(st, p.dir)
	p.mu.Lock()
	defer p.mu.Unlock()
	if slices.Equal(secrets, p.secrets) {
		return
	}
	p.secrets = secrets
	p.SetMasker(masker)
}

// logMasker builds the redactor for the logs: every registered secret of
// the state, and the values of the secret-looking keys of the uploaded
// customer.env and of the customer.env and .env in the release directory
// (what the running containers were started with). It returns the values
// too, sorted, to tell whether anything changed.
func logMasker(st wizard.State, dir string) (*redact.Redactor, []string) {
	var secrets []redact.Secret
	for _, f := range st.SecretFields() {
		if *f.Value != "" {
			secrets = append(secrets, redact.Secret{What: f.What, Value: *f.Value})
		}
	}
	secrets = append(secrets, redact.EnvSecrets([]byte(st.Package.CustomerEnv))...)
	for _, name := range []string{"customer.env", ".env"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			secrets = append(secrets, redact.EnvSecrets(b)...)
		}
	}
	values := make([]string, 0, len(secrets))
	for _, s := range secrets {
		values = append(values, s.What+"\x00"+s.Value)
	}
	slices.Sort(values)
	values = slices.Compact(values)
	return redact.New(secrets), values
}

// learningStore tells the logs about every state it saves.
type learningStore struct {
	wizard.Store
	logs *projectLogs
}

func (s learningStore) Update(fn func(*wizard.State) error) (wizard.State, error) {
	st, err := s.Store.Update(fn)
	if err == nil {
		s.logs.learn(st)
	}
	return st, err
}

// withLogs starts the project's logs for the wizard and returns them with
// the store the wizard must save its state through (so that the logs
// learn every new secret). Without them (another wizard writes the
// history, a bad DOCKER_HOST) the wizard still serves, and says so once.
func withLogs(cfg config.Config, st wizard.State, store wizard.Store, log *slog.Logger) (*projectLogs, wizard.Store) {
	p, err := startLogs(cfg, st, log)
	if err != nil {
		msg := "the Logs page and the logs command will show nothing new while this wizard runs"
		if errors.Is(err, logstore.ErrLocked) {
			msg = "another carto-setup writes the log history of this state directory; " + msg
		}
		log.Warn(msg, "err", err)
		return nil, store
	}
	return p, learningStore{Store: store, logs: p}
}

// forInstall and forPages hand the logs to the install and to the pages,
// as a nil interface when there are none.
func (p *projectLogs) forInstall() deploy.ProjectLogs {
	if p == nil {
		return nil
	}
	return p
}

func (p *projectLogs) forPages() server.ProjectLogs {
	if p == nil {
		return nil
	}
	return p
}
