package steps

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/custpkg"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// PackageUpload is the customer package as CARTO sent it: the zip, or its
// two files. When the zip is given the files are not read.
type PackageUpload struct {
	Zip         []byte
	CustomerEnv []byte
	KeyJSON     []byte
}

// Validate checks that something was given.
func (u PackageUpload) Validate() wizard.FieldErrors {
	errs := wizard.FieldErrors{}
	if len(u.Zip) == 0 && len(u.CustomerEnv) == 0 && len(u.KeyJSON) == 0 {
		errs.Add(wizard.FieldZip, "Choose the package zip, or both customer.env and key.json.")
	}
	return errs
}

// Release reads the release's VERSION and MIN_VERSION, which the package
// is checked against.
func (s *Steps) Release() custpkg.Release {
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(s.d.ReleaseDir, name))
		return strings.TrimSpace(string(b))
	}
	return custpkg.Release{Version: read("VERSION"), MinVersion: read("MIN_VERSION")}
}

// Package validates the customer package and keeps it in the state. A
// package that fails any check is refused and cannot be overridden:
// nothing is stored, and the run says why. The package's domain becomes
// the domain step's suggestion when none is set.
func (s *Steps) Package(u PackageUpload) (Outcome, error) {
	if errs := u.Validate(); len(errs) > 0 {
		st, err := s.store.Load()
		return Outcome{State: st, Errors: errs}, err
	}
	var (
		files   custpkg.Files
		results []check.Result
		sum     custpkg.Summary
	)
	if len(u.Zip) > 0 {
		files, results, sum = custpkg.ValidateZip(bytes.NewReader(u.Zip), int64(len(u.Zip)), s.Release())
	} else {
		files, results, sum = custpkg.ValidateFiles(u.CustomerEnv, u.KeyJSON, s.Release())
	}
	for i := range results {
		if results[i].Status == check.Fail {
			results[i].Fixed = true
		}
	}
	run := wizard.NewCheckRun(s.d.Now(), results)
	st, errs, err := s.save(func(st *wizard.State) wizard.FieldErrors {
		if check.Failed(results) {
			errs := wizard.FieldErrors{}
			for _, r := range results {
				if r.Status == check.Fail && r.Field != "" {
					errs.Add(r.Field, r.Message)
				}
			}
			if len(errs) == 0 {
				errs.Add(wizard.FieldZip, "The package did not pass its checks; see below.")
			}
			return errs
		}
		st.Package = wizard.PackageInput{
			CustomerEnv: string(files.CustomerEnv), KeyJSON: string(files.KeyJSON),
			Summary: wizard.PackageSummary{Tenant: sum.TenantID, PackageVersion: sum.PackageVersion, ServiceAccount: sum.ServiceAccount, Project: sum.GCPProject},
		}
		record(st, wizard.Package, run, true)
		if st.Domain.Domain == "" && sum.Domain != "" {
			st.Domain.Domain = sum.Domain // a suggestion the domain step shows
		}
		return nil
	})
	if err == nil && len(errs) == 0 {
		s.d.Log.Info("customer package accepted", "tenant", sum.TenantID, "version", sum.PackageVersion)
	}
	return Outcome{State: st, Run: run, Errors: errs}, err
}
