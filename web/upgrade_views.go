package web

import (
	"time"

	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/upgrade"
	"github.com/carto-setup/carto-setup/internal/upgradeflow"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// ReleaseNotice is the home page's word that the checkout holds another
// release than the one installed; empty Text shows nothing.
type ReleaseNotice struct {
	Text string // "2026.8.11 is checked out; 2026.7.16 is installed"
	// Older is true when the checkout is older than the installed
	// release: going back is a restore, not an upgrade.
	Older bool
}

// UpgradeView is the Upgrade page: the releases, the tags git has, the
// plan of the upgrade and how to start it.
type UpgradeView struct {
	Progress Progress
	Notice   ReleaseNotice
	Releases upgradeflow.Releases
	// CheckoutError says why a checkout was refused; Dirty names the
	// modified tracked files that refused it.
	CheckoutError string
	Dirty         []string
	// Nothing says why there is nothing to upgrade; otherwise Plan is the
	// plan and Install what the apply will write.
	Nothing    string
	Plan       *upgrade.Plan
	Install    *deploy.Report
	PlanError  string
	Blocked    bool
	MinVersion bool // blocked by MIN_VERSION: the newer package is asked for
	Package    PackageUploadView
	// Preflight are the failed checks of the last upgrade's preflight,
	// with a reason field each, and the reasons typed.
	Preflight ChecksView
	// NeedSnapshot is set when the last upgrade could take no dump: the
	// admin may confirm a managed snapshot with a reason.
	NeedSnapshot   bool
	SnapshotReason string
	Unavailable    []string
	BackupDir      string
	Latest         string // the latest upgrade job's ID
	Error          string
}

// PackageUploadView is the newer package's upload on the Upgrade page.
type PackageUploadView struct {
	Errors wizard.FieldErrors
	Checks ChecksView
}

// UpgradeJobView is one upgrade as it runs and after.
type UpgradeJobView struct {
	Progress Progress
	ID       string
	Status   string // running, succeeded, failed, interrupted
	Error    string
	Started  time.Time
	Live     bool
	Report   upgradeflow.Report
	Lines    []string
}

// Running reports whether the upgrade still runs.
func (v UpgradeJobView) Running() bool { return v.Status == "running" }

// HistoryView is the History page.
type HistoryView struct {
	Progress Progress
	Entries  []history.Entry
	Notice   ReleaseNotice
}

// RestorePreviewView asks the admin to confirm a restore.
type RestorePreviewView struct {
	Progress Progress
	Preview  upgradeflow.RestorePreview
	Error    string
}

// RestoreJobView is one restore as it runs and after.
type RestoreJobView struct {
	Progress Progress
	ID       string
	Status   string
	Error    string
	Started  time.Time
	Live     bool
	Report   *upgradeflow.RestoreReport
	Lines    []string
}

// Running reports whether the restore still runs.
func (v RestoreJobView) Running() bool { return v.Status == "running" }
