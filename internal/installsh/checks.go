package installsh

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/envfile"
)

// Step is the check.Result step of every result this package reports.
const Step = "install"

// The minimum tool versions of install.sh's step A.
const (
	MinDocker  = "20.10"
	MinCompose = "1.29"
)

// Files install.sh needs in the release directory. env.tpl is not checked by
// install.sh itself, but step B fails without it, so it is checked here too.
var requiredFiles = []string{"VERSION", "customer.env", "key.json", "MIN_VERSION", "env.tpl"}

// ToolVersions measures the tools on the host. Docker returns the output of
// `docker --version` (or a bare version); Compose returns the output of
// `docker compose version` or `docker-compose version`, whichever the host
// has. The caller decides how to run them; tests give fixed answers.
type ToolVersions interface {
	Docker(ctx context.Context) (string, error)
	Compose(ctx context.Context) (string, error)
}

// PreChecks runs step A of install.sh against dir: docker at least 20.10,
// Docker Compose (the plugin or the standalone binary) at least 1.29, and
// the release and package files present.
func PreChecks(ctx context.Context, dir string, tools ToolVersions) []check.Result {
	results := []check.Result{
		toolCheck(ctx, "install.docker", "Docker", MinDocker, tools.Docker, ParseDockerVersion,
			"Install Docker Engine 20.10 or newer (https://docs.docker.com/engine/install/)."),
		toolCheck(ctx, "install.compose", "Docker Compose", MinCompose, tools.Compose, ParseComposeVersion,
			"Install the docker compose plugin (or docker-compose 1.29 or newer)."),
	}
	for _, name := range requiredFiles {
		r := check.Result{Step: Step, ID: "install.file." + name, Required: "present", Status: check.Pass, Measured: "present",
			Message: name + " is present."}
		st, err := os.Stat(filepath.Join(dir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.Status, r.Measured = check.Fail, "missing"
			r.Message = name + " is missing from " + dir + "."
			r.Hint = fileHint(name)
		case err != nil:
			r.Status, r.Measured = check.Error, "unreadable"
			r.Message = fmt.Sprintf("Could not look at %s: %v.", name, err)
		case st.IsDir():
			r.Status, r.Measured = check.Fail, "a directory"
			r.Message = name + " is a directory, not a file."
			r.Hint = fileHint(name)
		}
		results = append(results, r)
	}
	return results
}

func fileHint(name string) string {
	switch name {
	case "customer.env", "key.json":
		return "Upload CARTO's customer package in the wizard, or copy " + name + " from it into the directory."
	}
	return "The directory must be a checkout of a carto-selfhosted release tag (git checkout tags/<version>)."
}

func toolCheck(ctx context.Context, id, name, min string, measure func(context.Context) (string, error),
	parse func(string) (string, error), hint string) check.Result {
	r := check.Result{Step: Step, ID: id, Required: ">= " + min, Hint: hint}
	out, err := measure(ctx)
	if err != nil {
		r.Status, r.Measured = check.Fail, "not found"
		r.Message = fmt.Sprintf("Could not get the %s version: %v.", name, err)
		return r
	}
	v, err := parse(out)
	if err != nil {
		r.Status, r.Measured = check.Fail, firstLine(out)
		r.Message = fmt.Sprintf("Could not read the %s version from %q.", name, firstLine(out))
		return r
	}
	r.Measured = v
	if CompareVersions(v, min) < 0 {
		r.Status = check.Fail
		r.Message = fmt.Sprintf("%s %s is older than %s, the oldest CARTO supports.", name, v, min)
		return r
	}
	r.Status, r.Hint = check.Pass, ""
	r.Message = fmt.Sprintf("%s %s is new enough.", name, v)
	return r
}

// PostChecks runs step C of install.sh on a generated .env and the release's
// MIN_VERSION, with every condition a real failure (install.sh only prints
// some of them and exits 0): the customer package version is present and not
// below MIN_VERSION, LOCAL_POSTGRES_SCALE is set (1, the embedded database,
// is a warning: it is not for production) and POSTGRES_ADMIN_PASSWORD is
// not empty. Values are read as Compose reads .env.
func PostChecks(dotEnv, minVersion []byte) []check.Result {
	env, err := envfile.Parse(dotEnv)
	if err != nil {
		return []check.Result{{Step: Step, ID: "install.env", Status: check.Fail, Measured: "does not parse",
			Required: "a valid .env", Message: fmt.Sprintf("Docker Compose could not read the generated .env: %v.", err),
			Hint: "Fix the line named in customer.env (or env.tpl)."}}
	}
	var results []check.Result

	pkg, ok := env.Get("CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION")
	r := check.Result{Step: Step, ID: "install.package_version", Required: "present", Field: "customer_env"}
	if !ok || pkg == "" {
		r.Status, r.Measured = check.Fail, "missing"
		r.Message = "CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION is missing from customer.env."
		r.Hint = "Use the customer.env from the customer package CARTO sent, unedited apart from your settings."
	} else {
		r.Status, r.Measured = check.Pass, pkg
		r.Message = "The customer package version is " + pkg + "."
	}
	results = append(results, r)

	if ok && pkg != "" {
		results = append(results, MinVersionCheck(pkg, minVersion))
	}

	scale, ok := env.Get("LOCAL_POSTGRES_SCALE")
	r = check.Result{Step: Step, ID: "install.local_postgres_scale", Required: "set (0 or 1)", Measured: scale}
	switch {
	case !ok:
		r.Status, r.Measured = check.Fail, "unset"
		r.Message = "LOCAL_POSTGRES_SCALE is not set, so Docker Compose cannot scale the embedded database."
		r.Hint = "Choose the embedded or an external database in the wizard."
	case scale == "1":
		r.Status = check.Warn
		r.Message = "Using embedded databases is not for PRODUCTION use."
		r.Hint = "Use an external PostgreSQL for production."
	default:
		r.Status = check.Pass
		r.Message = "LOCAL_POSTGRES_SCALE is " + scale + "."
	}
	results = append(results, r)

	pw, ok := env.Get(adminPasswordKey)
	r = check.Result{Step: Step, ID: "install.postgres_admin_password", Required: "not empty", Field: "postgres_admin_password"}
	if !ok || pw == "" {
		r.Status, r.Measured = check.Fail, "empty"
		r.Message = "There is no Postgres Admin password defined (POSTGRES_ADMIN_PASSWORD)."
		r.Hint = "Set the PostgreSQL admin password in the database step."
	} else {
		r.Status, r.Measured = check.Pass, "set"
		r.Message = "The Postgres admin password is set."
	}
	return append(results, r)
}

// MinVersionCheck compares the customer package version with the content of
// the release's MIN_VERSION file in `sort -V` order; a package older than
// MIN_VERSION fails.
func MinVersionCheck(packageVersion string, minVersionFile []byte) check.Result {
	r := check.Result{Step: Step, ID: "install.min_version", Measured: packageVersion, Field: "customer_env"}
	min, err := trimVersionFile(minVersionFile)
	if err != nil {
		r.Status = check.Fail
		r.Message = "The release's MIN_VERSION file is empty."
		r.Hint = "Check out an unmodified carto-selfhosted release tag."
		return r
	}
	r.Required = ">= " + min
	if CompareVersions(min, packageVersion) > 0 {
		r.Status = check.Fail
		r.Message = fmt.Sprintf("The customer package version %s is older than %s, the oldest this release accepts.", packageVersion, min)
		r.Hint = "Ask CARTO support for a newer customer package (or download it with the key in key.json)."
		return r
	}
	r.Status = check.Pass
	r.Message = fmt.Sprintf("The customer package version %s is at least %s.", packageVersion, min)
	return r
}
