package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/composefile"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/installsh"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// Permissions of what the install writes: every file is owner-only, since
// most hold secrets and the rest (certificates) gain nothing from being
// readable by others; the container users that must read a file from
// certs/ get an ACL entry each (see package fileaccess), nobody else.
const (
	FilePerm = 0o600
	DirPerm  = 0o700
)

// Plan is everything an install writes into a release directory, computed
// from the wizard's state and the files on disk without writing anything.
// The same state and disk give the same plan, and applying a plan twice
// changes nothing the second time.
type Plan struct {
	dir      string
	stateDir string
	version  string
	oldEnv   []byte // what the diff compares against
	newEnv   []byte // the customer.env to write
	files    []plannedFile
	checks   []check.Result
	services []string
	scales   map[string]int
	images   map[string]string // service -> image reference
	ports    []int             // host ports the services publish
	redactor *redact.Redactor
	report   Report
	record   Record // what Apply records once every file is written
}

// plannedFile is one file the install writes, relative to the release
// directory.
type plannedFile struct {
	rel     string
	data    []byte
	secret  bool
	readers []string // the services that read it
	action  FileAction
	backup  bool
	// disk is the SHA-256 of the file as the plan read it ("" when it was
	// absent): Apply refuses to write over a file changed since.
	disk string
}

// PlanOptions are what a plan needs besides the wizard's answers.
type PlanOptions struct {
	// StateDir is carto-setup's state directory, where the record of the
	// last install is kept (RecordDir). Empty means no record: every
	// difference on disk is treated as described on mergeCustomerEnv.
	StateDir string
	// Resolutions settle conflicts, by Conflict.Key.
	Resolutions map[string]Resolution
}

// FileSummary describes one file or directory a plan places, for the review
// page: the path relative to the release directory, its permissions, its
// size in bytes (0 for the directory), and whether it holds secrets.
type FileSummary struct {
	Path    string
	Mode    fs.FileMode
	Size    int
	Secret  bool
	Readers []string
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

// NewPlan is NewPlanWith without a state directory or resolutions.
func NewPlan(st wizard.State, releaseDir string) (Plan, error) {
	return NewPlanWith(st, releaseDir, PlanOptions{})
}

// NewPlanWith computes the install for the release in releaseDir from the
// wizard's state, with the files on disk as the base. It reads the
// release's VERSION, env.tpl, MIN_VERSION and docker-compose.yml, the
// customer.env, .env, key.json and certs/ files already in the directory,
// and the record of the last install under opts.StateDir. customer.env is
// merged (see mergeCustomerEnv: hand edits are kept, a newer package's
// changes come in, the wizard's keys take its answers, conflicts wait for
// a resolution), with install.sh's POSTGRES_PASSWORD rename applied and
// CRLF line ends made LF; .env and certs/key.json are what install.sh's
// step B makes of it. Every check runs here, before anything is written:
// when install.sh would warn about an error, or a value cannot be written
// safely, NewPlanWith returns a *RefusedError and no plan. Open conflicts
// do not refuse the plan (the Review page shows them) but Apply refuses to
// write until they are resolved.
func NewPlanWith(st wizard.State, releaseDir string, opts PlanOptions) (Plan, error) {
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
	disk, err := readOptional(releaseDir, CustomerEnvFile)
	if err != nil {
		return Plan{}, err
	}

	if st.Package.CustomerEnv == "" || st.Package.KeyJSON == "" {
		return Plan{}, &RefusedError{Results: []check.Result{{Step: "install", ID: "install.package", Status: check.Fail,
			Field: "customer_env", Measured: "missing", Required: "uploaded",
			Message: "The customer package (customer.env and key.json) has not been uploaded.",
			Hint:    "Upload the customer package CARTO sent in the package step."}}}
	}
	var notices []string
	pkg, crlf := envfile.NormalizeNewlines([]byte(st.Package.CustomerEnv))
	pkg = installsh.RenamePostgresPassword(pkg)
	if _, err := envfile.Parse(pkg); err != nil {
		return Plan{}, &RefusedError{Results: []check.Result{{Step: "install", ID: "install.customer_env", Status: check.Fail,
			Field: "customer_env", Measured: "does not parse", Required: "a valid customer.env",
			Message: sentence(err), Hint: "Upload the customer.env from CARTO's package unedited."}}}
	}
	var dsk *envfile.File
	if disk != nil {
		d, dcrlf := envfile.NormalizeNewlines(disk)
		crlf = crlf || dcrlf
		if dsk, err = envfile.Parse(installsh.RenamePostgresPassword(d)); err != nil {
			return Plan{}, &RefusedError{Results: []check.Result{{Step: "install", ID: "install.customer_env.disk", Status: check.Fail,
				Field: "customer_env", Measured: "does not parse", Required: "a valid customer.env",
				Message: "The customer.env in " + releaseDir + " does not parse: " + sentence(err),
				Hint:    "Fix that line by hand (it was edited since carto-setup wrote it); nothing was changed."}}}
		}
	}
	if crlf {
		notices = append(notices, "customer.env had Windows (CRLF) line ends or a byte order mark; it is written with LF and without the mark, since bash's source would keep the \\r in every value.")
	}
	var rec *Record
	if opts.StateDir != "" {
		r, ok, err := LoadRecord(opts.StateDir)
		if err != nil {
			return Plan{}, err
		}
		if ok && filepath.Clean(r.ReleaseDir) == filepath.Clean(releaseDir) {
			rec = &r
		}
	}

	// The secrets known before the merge mask what the report shows.
	known := planSecrets(st, pkg, disk)
	em, err := mergeCustomerEnv(mergeInput{st: st, pkg: pkg, dsk: dsk, rec: rec, res: opts.Resolutions, m: redact.New(known)})
	if err != nil {
		return Plan{}, &RefusedError{Results: []check.Result{{Step: "install", ID: "install.customer_env.merge", Status: check.Fail,
			Field: "customer_env", Measured: "cannot merge", Required: "a customer.env carto-setup can write",
			Message: sentence(err), Hint: "Fix that key in customer.env by hand, or choose the other side of its conflict."}}}
	}
	if len(em.results) > 0 {
		return Plan{}, &RefusedError{Results: em.results}
	}

	newEnv := em.file.Bytes()
	dotEnv := installsh.DotEnv(newEnv, version, envTpl)
	checks := installsh.PostChecks(dotEnv, minVersion)
	if w := check.Worst(checks); w == check.Fail || w == check.Error {
		return Plan{}, &RefusedError{Results: checks}
	}
	overrides := envTplOverrides(em.file, envTpl)
	for _, k := range overrides {
		checks = append(checks, check.Result{Step: "install", ID: "install.env_tpl_override." + strings.ToLower(k), Status: check.Warn,
			Field: "customer_env", Measured: "set in customer.env and in env.tpl", Required: "set in one place",
			Message: k + " is set in customer.env, but env.tpl sets it again later in .env, and Compose uses the later value.",
			Hint:    "The customer.env value of " + k + " has no effect with this release."})
	}

	p := Plan{
		dir:      releaseDir,
		stateDir: opts.StateDir,
		version:  string(bytes.TrimRight(version, "\n")),
		newEnv:   newEnv,
		checks:   checks,
		redactor: redact.New(slices.Concat(known, planSecrets(st, newEnv, dotEnv))),
		oldEnv:   pkg,
	}
	if disk != nil {
		p.oldEnv = disk
	}
	m := p.Masker()
	p.report = Report{
		KeptEdits:       keyChanges(em.kept, m),
		Conflicts:       em.conflicts,
		PackageChanges:  keyChanges(em.pkg, m),
		Overwritten:     keyChanges(em.overwritten, m),
		EnvTplOverrides: overrides,
		Notices:         notices,
	}
	add := func(rel string, data []byte, secret bool) {
		p.files = append(p.files, plannedFile{rel: rel, data: data, secret: secret})
	}
	key := []byte(st.Package.KeyJSON)
	certs := func(name string) string { return filepath.Join(CertsDir, name) }
	// Certificates first and .env last, so that a failure half-way never
	// leaves a .env pointing at files that are not there yet.
	add(certs(ServiceKeyFile), key, true)
	if em.out.routerCert {
		add(certs(RouterCertFile), []byte(st.TLS.CertPEM), false)
		add(certs(RouterKeyFile), []byte(st.TLS.KeyPEM), true)
	}
	if em.out.pgCA != "" {
		add(certs(PostgresCAFile), []byte(em.out.pgCA), false)
	}
	if em.out.redisCA != "" {
		add(certs(RedisCAFile), []byte(em.out.redisCA), false)
	}
	if em.out.gcsKey != "" {
		add(certs(BucketKeyFile), []byte(em.out.gcsKey), true)
	}
	if em.out.caBundle != "" {
		add(certs(ExtraCAFile), []byte(em.out.caBundle), false)
	}
	add(ServiceKeyFile, key, true)
	add(CustomerEnvFile, newEnv, true)
	add(DotEnvFile, dotEnv, true)

	env, err := envfile.Parse(dotEnv)
	if err != nil {
		// PostChecks parsed the same bytes.
		return Plan{}, fmt.Errorf("deploy: plan: parse .env: %w", err)
	}
	services := parseComposeServices(composeFile)
	p.scales = map[string]int{}
	p.images = map[string]string{}
	for _, s := range services {
		p.services = append(p.services, s.name)
		if s.image != "" {
			p.images[s.name] = interpolate(s.image, env)
		}
		for _, port := range s.ports {
			if n, ok := composefile.HostPort(interpolate(port, env)); ok && !slices.Contains(p.ports, n) {
				p.ports = append(p.ports, n)
			}
		}
		if s.scale == "" {
			continue
		}
		if n, ok := resolveScale(s.scale, env); ok {
			p.scales[s.name] = n
		}
	}
	for i := range p.files {
		p.files[i].readers = fileReaders(services, env, releaseDir, p.files[i].rel)
	}
	if err := p.compareWithDisk(rec, disk, version, envTpl, opts.Resolutions); err != nil {
		return Plan{}, err
	}
	p.record = Record{ReleaseDir: releaseDir, Version: p.version, Package: string(pkg), CustomerEnv: string(newEnv),
		DotEnv: string(dotEnv), WizardKeys: em.owned, KeptMine: em.keptMine}
	return p, nil
}

// readOptional reads a file of the release directory; nil when absent.
func readOptional(dir, rel string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("deploy: plan: read %s: %w", rel, err)
	}
	return b, nil
}

// envTplOverrides returns the keys customer.env assigns that env.tpl
// assigns again: in .env env.tpl comes later, and the last assignment wins
// (carto-facts §3.0), so the customer.env value is silently ignored.
func envTplOverrides(customerEnv *envfile.File, envTpl []byte) []string {
	tpl, err := envfile.Parse(envTpl)
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range tpl.Keys() {
		if _, ok := customerEnv.Get(k); ok {
			out = append(out, k)
		}
	}
	return out
}

// compareWithDisk decides what happens to each planned file: created,
// updated, left alone, or kept by the admin's choice; which need a backup
// first; which hand edits to report; and which services must restart.
func (p *Plan) compareWithDisk(rec *Record, diskEnv, version, envTpl []byte, res map[string]Resolution) error {
	restarts := map[string][]string{}
	for i := range p.files {
		f := &p.files[i]
		cur, err := readOptional(p.dir, f.rel)
		if err != nil {
			return err
		}
		if cur != nil {
			f.disk = sha(cur)
		}
		var recorded *RecordedFile
		if r, ok := rec.file(f.rel); ok {
			recorded = &r
		}
		handEdited := cur != nil && recorded != nil && recorded.SHA256 != f.disk
		change := FileChange{Path: f.rel, Secret: f.secret, Readers: f.readers}
		switch {
		case cur == nil:
			f.action = FileCreate
		case bytes.Equal(cur, f.data):
			f.action = FileUnchanged
		default:
			f.action = FileUpdate
			switch f.rel {
			case CustomerEnvFile:
				// Merged above; the previous content is kept as a backup.
				f.backup = true
				change.HandEdited = handEdited
			case DotEnvFile:
				switch {
				case handEdited:
					change.HandEdited, f.backup = true, true
					p.report.Notices = append(p.report.Notices, ".env was edited by hand since carto-setup wrote it"+
						dotEnvKeys(rec.DotEnv, cur)+"; it is backed up and generated again from customer.env, as install.sh does. Put lasting settings in customer.env.")
				case recorded == nil && !bytes.Equal(cur, installsh.DotEnv(diskEnv, version, envTpl)):
					f.backup = true
					p.report.Notices = append(p.report.Notices, ".env differs from what install.sh generates from the customer.env on disk; it is backed up and generated again.")
				}
			default:
				switch {
				case recorded == nil:
					f.backup = true
					p.report.Notices = append(p.report.Notices, f.rel+" is replaced; carto-setup has no record of writing it, so the current file is backed up first.")
				case !handEdited && recorded.Declined != "" && recorded.Declined == sha(f.data) && res[f.rel] == "":
					// Kept over this very content before: the choice stands.
					change.HandEdited, f.action = true, FileKeep
				case handEdited || recorded.Declined != "":
					change.HandEdited = true
					c := Conflict{Kind: ConflictFile, Key: f.rel}
					switch res[f.rel] {
					case KeepMine:
						c.Resolution, f.action = KeepMine, FileKeep
					case TakeWizard:
						c.Resolution, f.backup = TakeWizard, true
					}
					p.report.Conflicts = append(p.report.Conflicts, c)
				}
			}
		}
		change.Action, change.Backup = f.action, f.backup
		p.report.Files = append(p.report.Files, change)
		if f.action == FileCreate || f.action == FileUpdate {
			for _, s := range f.readers {
				restarts[s] = append(restarts[s], f.rel)
			}
		}
	}
	for _, s := range p.services {
		if files, ok := restarts[s]; ok {
			p.report.Restarts = append(p.report.Restarts, Restart{Service: s, Files: files})
		}
	}
	return nil
}

// file returns the record of one file; a nil record has none.
func (r *Record) file(rel string) (RecordedFile, bool) {
	if r == nil {
		return RecordedFile{}, false
	}
	f, ok := r.Files[rel]
	return f, ok
}

// dotEnvKeys names the keys that differ between two .env contents, for a
// notice: " (keys A, B)".
func dotEnvKeys(old string, cur []byte) string {
	a, err1 := envfile.Parse([]byte(old))
	b, err2 := envfile.Parse(cur)
	if err1 != nil || err2 != nil {
		return ""
	}
	var keys []string
	for _, c := range envfile.Changes(a, b, nil) {
		keys = append(keys, c.Key)
	}
	if len(keys) == 0 {
		return " (comments or layout only)"
	}
	return " (keys " + strings.Join(keys, ", ") + ")"
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
// permissions; Readers names the services that are given read access on
// top of them (Report says what happens to each file).
func (p Plan) Files() []FileSummary {
	out := []FileSummary{{Path: CertsDir, Mode: fs.ModeDir | DirPerm}}
	for _, f := range p.files {
		out = append(out, FileSummary{Path: f.rel, Mode: FilePerm, Size: len(f.data), Secret: f.secret, Readers: slices.Clone(f.readers)})
	}
	return out
}

// Report returns what the Review page and `apply --json` show besides the
// diff: kept hand edits, conflicts, package changes, files, restarts.
func (p Plan) Report() Report {
	r := p.report
	r.KeptEdits = slices.Clone(r.KeptEdits)
	r.Conflicts = slices.Clone(r.Conflicts)
	r.PackageChanges = slices.Clone(r.PackageChanges)
	r.Overwritten = slices.Clone(r.Overwritten)
	r.Files = slices.Clone(r.Files)
	r.Restarts = slices.Clone(r.Restarts)
	r.EnvTplOverrides = slices.Clone(r.EnvTplOverrides)
	r.Notices = slices.Clone(r.Notices)
	return r
}

// Images returns the image each service runs, as the planned .env names
// it.
func (p Plan) Images() map[string]string { return maps.Clone(p.images) }

// HostPorts returns the host ports the release's services publish with
// this plan's .env, sorted: what must be free before the install.
func (p Plan) HostPorts() []int { return slices.Sorted(slices.Values(p.ports)) }

// ComposeCommand returns the Compose command line the install runs, quoted
// for a POSIX shell, for the admin to read or run by hand.
func (p Plan) ComposeCommand(tool compose.Tool, project string) string {
	return ShellCommand(tool.Args(project, p.dir, "up", "-d", "--remove-orphans"))
}

// ShellCommand quotes argv for a POSIX shell, for a command the admin is
// told to run.
func ShellCommand(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
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
