package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/carto-setup/carto-setup/internal/compose"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/fileaccess"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/redact"
)

// GrantAccess gives the files an install places in releaseDir (key.json,
// customer.env, .env and everything under certs/) read access for exactly
// the users of the services that read them, and nobody else, judged from
// the .env and docker-compose.yml on disk as ApplyWith judges them from a
// plan. A restore of the history writes the files back owner-only (a file
// replaced by rename loses its ACL): this gives the containers back what
// they read. A service whose image is not on this host gets no access;
// logf (nil: silent) says so. It returns the readers given to each file,
// by path relative to releaseDir.
func GrantAccess(ctx context.Context, users ImageUsers, releaseDir string, logf func(string, ...any)) (map[string][]fileaccess.User, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	d, err := readDisk(releaseDir)
	if err != nil {
		return nil, fmt.Errorf("deploy: grant access: %w", err)
	}
	services, env := d.services, d.env
	images := map[string]string{}
	for _, s := range services {
		if s.image != "" {
			images[s.name] = interpolate(s.image, env)
		}
	}

	rels, err := placedFiles(releaseDir)
	if err != nil {
		return nil, err
	}
	readers := map[string][]string{}
	var needed []string
	for _, rel := range rels {
		readers[rel] = fileReaders(services, env, releaseDir, rel)
		for _, s := range readers[rel] {
			if !slices.Contains(needed, s) {
				needed = append(needed, s)
			}
		}
	}
	known := map[string]fileaccess.User{}
	for _, s := range needed {
		ref := images[s]
		if ref == "" || users == nil {
			logf("Warning: no image user is known for %s; its files stay owner-only.", s)
			continue
		}
		u, present, err := users.ImageUser(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("deploy: grant access: the user of %s: %w", ref, err)
		}
		if !present {
			logf("Warning: the image %s of %s is not on this host, so its files stay owner-only.", ref, s)
			continue
		}
		known[s] = fileaccess.User{UID: u.UID, GID: u.GID}
	}

	granted := map[string][]fileaccess.User{}
	var dirReaders []fileaccess.User
	for _, rel := range rels {
		who := usersOf(readers[rel], known)
		if err := grantFile(releaseDir, rel, who, nil); err != nil {
			return nil, fmt.Errorf("deploy: grant access: %w", err)
		}
		granted[rel] = who
		if filepath.Dir(rel) != "." {
			for _, u := range who {
				if !slices.Contains(dirReaders, u) {
					dirReaders = append(dirReaders, u)
				}
			}
		}
	}
	certs := filepath.Join(releaseDir, CertsDir)
	if _, err := os.Stat(certs); err == nil {
		if _, err := (&fileaccess.Granter{}).Grant(certs, true, dirReaders); err != nil {
			return nil, fmt.Errorf("deploy: grant access: %w", err)
		}
	}
	return granted, nil
}

// placedFiles lists the regular files of releaseDir an install places:
// the top-level ones that exist and every file under certs/, sorted.
func placedFiles(releaseDir string) ([]string, error) {
	var rels []string
	for _, name := range []string{ServiceKeyFile, CustomerEnvFile, DotEnvFile} {
		fi, err := os.Lstat(filepath.Join(releaseDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("deploy: grant access: %w", err)
		}
		if fi.Mode().IsRegular() {
			rels = append(rels, name)
		}
	}
	err := filepath.WalkDir(filepath.Join(releaseDir, CertsDir), func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(releaseDir, path)
			if err != nil {
				return err
			}
			rels = append(rels, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deploy: grant access: %w", err)
	}
	sort.Strings(rels)
	return rels, nil
}

// UpConfig says which stack Up starts and where it reports; the fields
// mean what RunConfig's do.
type UpConfig struct {
	ReleaseDir string
	Project    string
	Expect     time.Duration
	Hub        *logstream.Hub
	Board      *Board
	Poll       time.Duration
	LogLines   int
}

// Up starts the stack on the files the release directory holds now,
// written by something other than an install (a restore of the history):
// it follows the project's containers, runs `compose up -d
// --remove-orphans` and waits, by Run's rules, until every service of the
// release's docker-compose.yml reaches its expected state with the .env on
// disk. It writes nothing. Progress goes to out, masked with the secrets
// of .env.
func Up(ctx context.Context, deps Deps, cfg UpConfig, out io.Writer) error {
	if deps.Compose == nil || deps.Docker == nil {
		return errors.New("deploy: up: Compose and Docker are required")
	}
	p, err := diskPlan(cfg.ReleaseDir)
	if err != nil {
		return err
	}
	rc := RunConfig{Plan: p, Project: cfg.Project, Expect: cfg.Expect, Hub: cfg.Hub, Board: cfg.Board, Poll: cfg.Poll, LogLines: cfg.LogLines}
	if rc.Project == "" {
		rc.Project = DefaultProject
	}
	if !compose.ValidProjectName(rc.Project) {
		return fmt.Errorf("deploy: up: invalid project name %q", rc.Project)
	}
	if rc.Expect <= 0 {
		rc.Expect = 5 * time.Minute
	}
	if rc.Poll <= 0 {
		rc.Poll = time.Second
	}
	if rc.LogLines <= 0 {
		rc.LogLines = 20
	}
	if rc.Hub == nil {
		rc.Hub = logstream.NewHub(logstream.HubConfig{})
	}
	if rc.Board == nil {
		rc.Board = NewBoard(BoardConfig{})
	}
	if out == nil {
		out = io.Discard
	}
	w := redact.NewLineWriter(out, p.redactor)
	defer w.Flush()
	logf := func(format string, args ...any) { w.Line(fmt.Sprintf(format, args...)) }

	tool, err := deps.Compose.Detect(ctx)
	if err != nil {
		return &Error{Step: "compose", Message: sentence(err),
			Hint: "Install the docker compose plugin, or docker-compose 1.29 or newer.", Err: err}
	}
	board := rc.Board
	fctx, stopFollow := context.WithCancel(ctx)
	follower := logstream.NewFollower(logstream.FollowerConfig{
		Project: rc.Project, Docker: deps.Docker, Hub: rc.Hub, Masker: p.redactor,
		OnState: func(s logstream.StateChange) {
			board.Observe(s)
			reportState(s, logf)
		},
	})
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		follower.Run(fctx)
	}()
	defer func() {
		stopFollow()
		<-followed
	}()
	logf("Running: %s", p.ComposeCommand(tool, rc.Project))
	if err := deps.Compose.Up(ctx, tool, p.dir, rc.Project, w); err != nil {
		w.Flush()
		var ue *compose.UpError
		if errors.As(err, &ue) {
			return &Error{Step: "up", Message: ue.Message(), Hint: ue.Hint(), Err: err}
		}
		return &Error{Step: "up", Message: "Docker Compose could not be run.",
			Hint: "Check that Docker Compose works for this user (docker-compose version).", Err: err}
	}
	w.Flush()
	logf("Compose started the stack; waiting up to %s for every service.", rc.Expect)
	return wait(ctx, deps.Docker, rc, board, p.redactor, logf)
}

// diskPlan is the plan of what the release directory holds: its services
// and their scales as the .env on disk resolves them, and a masker for
// that .env's secrets. It places no file.
func diskPlan(dir string) (Plan, error) {
	d, err := readDisk(dir)
	if err != nil {
		return Plan{}, fmt.Errorf("deploy: up: %w", err)
	}
	customerEnv, _ := os.ReadFile(filepath.Join(dir, CustomerEnvFile))
	p := Plan{dir: dir, scales: map[string]int{}, images: map[string]string{},
		redactor: redact.New(append(redact.EnvSecrets(d.dotEnv), redact.EnvSecrets(customerEnv)...))}
	for _, s := range d.services {
		p.services = append(p.services, s.name)
		if s.image != "" {
			p.images[s.name] = interpolate(s.image, d.env)
		}
		if s.scale != "" {
			if n, ok := resolveScale(s.scale, d.env); ok {
				p.scales[s.name] = n
			}
		}
	}
	return p, nil
}

// disk is the .env and docker-compose.yml of a release directory as they
// are.
type disk struct {
	dotEnv   []byte
	env      *envfile.File
	services []composeService
}

func readDisk(dir string) (disk, error) {
	var d disk
	var err error
	if d.dotEnv, err = os.ReadFile(filepath.Join(dir, DotEnvFile)); err != nil {
		return d, err
	}
	if d.env, err = envfile.Parse(d.dotEnv); err != nil {
		return d, fmt.Errorf("parse .env: %w", err)
	}
	composeFile, err := os.ReadFile(filepath.Join(dir, compose.FileName))
	if err != nil {
		return d, err
	}
	d.services = parseComposeServices(composeFile)
	return d, nil
}
