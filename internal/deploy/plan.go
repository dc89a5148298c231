package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/installsh"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Permissions of what the install writes: every file is owner-only, since
// most hold secrets and the rest (certificates) gain nothing from being
// readable by others.
const (
	FilePerm = 0o600
	DirPerm  = 0o700
)

// Plan is everything an install writes into a release directory, computed
// from the wizard's state without writing anything. The same state and
// release give the same plan, and applying a plan twice changes nothing the
// second time.
type Plan struct {
	dir         string
	version     string
	oldEnv      []byte // what the diff compares against
	newEnv      []byte // the customer.env to write
	files       []plannedFile
	checks      []check.Result
	services    []string
	scales      map[string]int
	redactor    *redact.Redactor
	hadEnvInDir bool
}

// plannedFile is one file the install writes, relative to the release
// directory.
type plannedFile struct {
	rel    string
	data   []byte
	secret bool
}

// FileSummary describes one file or directory a plan places, for the review
// page: the path relative to the release directory, its permissions, its
// size in bytes (0 for the directory), and whether it holds secrets.
type FileSummary struct {
	Path   string
	Mode   fs.FileMode
	Size   int
	Secret bool
}

// RefusedError is returned by NewPlan when the wizard's answers would give
// an install that install.sh would only warn about, or that cannot be
// written at all. Results holds every check, the failed ones with their
// reason and hint.
type RefusedError struct {
	Results []check.Result
}

// Error lists the failed checks' messages.
func (e *RefusedError) Error() string {
	var msgs []string
	for _, r := range e.Results {
		if r.Status == check.Fail || r.Status == check.Error {
			msgs = append(msgs, strings.TrimSuffix(r.Message, "."))
		}
	}
	return "deploy: plan refused: " + strings.Join(msgs, "; ")
}

// NewPlan computes the install for the release in releaseDir from the
// wizard's state. It reads the release's VERSION, env.tpl, MIN_VERSION and
// docker-compose.yml, and the customer.env already in the directory (for
// the diff only). The customer.env it plans is the uploaded package's, with
// install.sh's POSTGRES_PASSWORD rename applied (so that install.sh would
// leave it alone) and only the keys the wizard owns changed; .env and
// certs/key.json are what install.sh's step B makes of it. When install.sh
// would warn about an error, or a value cannot be written safely, NewPlan
// returns a *RefusedError and no plan.
func NewPlan(st wizard.State, releaseDir string) (Plan, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(releaseDir, name))
		if err != nil {
			return nil, fmt.Errorf("deploy: plan: read %s: %w", name, err)
		}
		return b, nil
	}
	version, err := read("VERSION")
	if err != nil {
		return Plan{}, err
	}
	envTpl, err := read("env.tpl")
	if err != nil {
		return Plan{}, err
	}
	minVersion, err := read("MIN_VERSION")
	if err != nil {
		return Plan{}, err
	}
	composeFile, err := read(compose.FileName)
	if err != nil {
		return Plan{}, err
	}
	current, err := os.ReadFile(filepath.Join(releaseDir, CustomerEnvFile))
	hadEnv := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Plan{}, fmt.Errorf("deploy: plan: read %s: %w", CustomerEnvFile, err)
	}

	if st.Package.CustomerEnv == "" || st.Package.KeyJSON == "" {
		return Plan{}, &RefusedError{Results: []check.Result{{Step: "install", ID: "install.package", Status: check.Fail,
			Field: "customer_env", Measured: "missing", Required: "uploaded",
			Message: "The customer package (customer.env and key.json) has not been uploaded.",
			Hint:    "Upload the customer package CARTO sent in the package step."}}}
	}
	base := installsh.RenamePostgresPassword([]byte(st.Package.CustomerEnv))
	orig, err := envfile.Parse(base)
	if err != nil {
		return Plan{}, &RefusedError{Results: []check.Result{{Step: "install", ID: "install.customer_env", Status: check.Fail,
			Field: "customer_env", Measured: "does not parse", Required: "a valid customer.env",
			Message: sentence(err), Hint: "Upload the customer.env from CARTO's package unedited."}}}
	}
	f, _ := envfile.Parse(base)
	ed := &editor{f: f, orig: orig, src: base}
	ed.domain(st.Domain)
	pgCA := ed.database(st.Database)
	redisCA := ed.cache(st.Cache)
	routerCert := ed.router(st.TLS)
	gcsKey := ed.buckets(st.Buckets)
	if len(ed.results) > 0 {
		return Plan{}, &RefusedError{Results: ed.results}
	}

	newEnv := f.Bytes()
	dotEnv := installsh.DotEnv(newEnv, version, envTpl)
	checks := installsh.PostChecks(dotEnv, minVersion)
	if w := check.Worst(checks); w == check.Fail || w == check.Error {
		return Plan{}, &RefusedError{Results: checks}
	}

	p := Plan{
		dir:         releaseDir,
		version:     string(bytes.TrimRight(version, "\n")),
		newEnv:      newEnv,
		checks:      checks,
		hadEnvInDir: hadEnv,
		redactor:    redact.New(planSecrets(st, newEnv, dotEnv)),
		oldEnv:      []byte(st.Package.CustomerEnv),
	}
	if hadEnv {
		p.oldEnv = current
	}
	add := func(rel string, data []byte, secret bool) {
		p.files = append(p.files, plannedFile{rel: rel, data: data, secret: secret})
	}
	key := []byte(st.Package.KeyJSON)
	certs := func(name string) string { return filepath.Join(CertsDir, name) }
	// Certificates first and .env last, so that a failure half-way never
	// leaves a .env pointing at files that are not there yet.
	add(certs(ServiceKeyFile), key, true)
	if routerCert {
		add(certs(RouterCertFile), []byte(st.TLS.CertPEM), false)
		add(certs(RouterKeyFile), []byte(st.TLS.KeyPEM), true)
	}
	if pgCA != "" {
		add(certs(PostgresCAFile), []byte(pgCA), false)
	}
	if redisCA != "" {
		add(certs(RedisCAFile), []byte(redisCA), false)
	}
	if gcsKey != "" {
		add(certs(BucketKeyFile), []byte(gcsKey), true)
	}
	add(ServiceKeyFile, key, true)
	add(CustomerEnvFile, newEnv, true)
	add(DotEnvFile, dotEnv, true)

	env, err := envfile.Parse(dotEnv)
	if err != nil {
		// PostChecks parsed the same bytes.
		return Plan{}, fmt.Errorf("deploy: plan: parse .env: %w", err)
	}
	p.scales = map[string]int{}
	for _, s := range parseComposeServices(composeFile) {
		p.services = append(p.services, s.name)
		if s.scale == "" {
			continue
		}
		if n, ok := resolveScale(s.scale, env); ok {
			p.scales[s.name] = n
		}
	}
	return p, nil
}

// ReleaseDir returns the release directory the plan writes into.
func (p Plan) ReleaseDir() string { return p.dir }

// Version returns the release's VERSION, the image tag of every service.
func (p Plan) Version() string { return p.version }

// Checks returns install.sh's step C checks on the planned .env; none
// failed, but some may warn (the embedded database).
func (p Plan) Checks() []check.Result { return slices.Clone(p.checks) }

// Services returns the services of the release's docker-compose.yml, in
// file order; empty when the file could not be read that way.
func (p Plan) Services() []string { return slices.Clone(p.services) }

// Scales returns the scale of every service whose docker-compose.yml entry
// sets one (workspace-postgres, valkey), as the planned .env resolves it.
func (p Plan) Scales() map[string]int {
	out := make(map[string]int, len(p.scales))
	for k, v := range p.scales {
		out[k] = v
	}
	return out
}

// Masker returns the redactor for every secret the plan knows: what the
// admin entered, the private keys in the key files, and the values of
// secret-looking keys in customer.env and .env. It is built once per plan.
func (p Plan) Masker() *redact.Redactor { return p.redactor }

// CustomerEnv returns the customer.env the plan writes. It holds secrets;
// show Diff instead.
func (p Plan) CustomerEnv() []byte { return bytes.Clone(p.newEnv) }

// Diff returns the change to customer.env as a unified line diff, every
// secret masked: the current customer.env of the release directory (or the
// uploaded package when there is none) against the planned one. It is empty
// when nothing changes.
func (p Plan) Diff() []DiffLine {
	return lineDiff(p.oldEnv, p.newEnv, p.Masker())
}

// Files returns what the plan places, certs/ first, with owner-only
// permissions.
func (p Plan) Files() []FileSummary {
	out := []FileSummary{{Path: CertsDir, Mode: fs.ModeDir | DirPerm}}
	for _, f := range p.files {
		out = append(out, FileSummary{Path: f.rel, Mode: FilePerm, Size: len(f.data), Secret: f.secret})
	}
	return out
}

// ComposeCommand returns the Compose command line the install runs, quoted
// for a POSIX shell, for the admin to read or run by hand.
func (p Plan) ComposeCommand(tool compose.Tool, project string) string {
	argv := tool.Args(project, p.dir, "up", "-d", "--remove-orphans")
	for i, a := range argv {
		argv[i] = shellQuote(a)
	}
	return strings.Join(argv, " ")
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
