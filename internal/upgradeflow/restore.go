package upgradeflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/carto-setup/carto-setup/internal/backup"
	"github.com/carto-setup/carto-setup/internal/deploy"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/history"
	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/statelock"
	"github.com/carto-setup/carto-setup/internal/upgrade"
)

// RestorePreview is what restoring a history entry will do, computed
// without writing anything, for the admin to read before going ahead.
type RestorePreview struct {
	Entry history.Entry `json:"-"`
	ID    int           `json:"entry"`
	// Release is the entry's release; CheckedOut the checkout's now, and
	// Checkout the tag git checks out first when they differ.
	Release    string `json:"release"`
	CheckedOut string `json:"checked_out"`
	Checkout   string `json:"checkout,omitempty"`
	// Writes are the files that change, Unchanged those already as the
	// entry left them, Removes the files the entry did not have.
	Writes    []string `json:"writes"`
	Unchanged []string `json:"unchanged"`
	Removes   []string `json:"removes"`
	// CrossRelease: the installed release is not the entry's. Going back
	// to an older one, the database has a newer schema than the entry's
	// release accepts: Database says what to do about it.
	Installed    string          `json:"installed"`
	CrossRelease bool            `json:"cross_release"`
	Database     *DatabaseNotice `json:"database,omitempty"`
}

// DatabaseNotice is what a restore across releases tells the admin about
// the database, which it never restores itself.
type DatabaseNotice struct {
	Message string `json:"message"`
	// BackupEntry is the upgrade whose backup holds the database as the
	// entry's release had it; Backup is that backup (nil when none was
	// recorded), BackupCheck whether its file is still intact.
	BackupEntry int             `json:"backup_entry,omitempty"`
	Backup      *history.Backup `json:"backup,omitempty"`
	BackupCheck string          `json:"backup_check,omitempty"`
	// StopCommand stops the stack; RestoreCommand then puts the database
	// back as the backup has it (it asks for the admin password).
	StopCommand    string `json:"stop_command,omitempty"`
	RestoreCommand string `json:"restore_command,omitempty"`
}

// PreviewRestore plans restoring history entry id.
func (f *Flow) PreviewRestore(ctx context.Context, id int) (RestorePreview, error) {
	p, err := f.c.History.PlanRestore(id, f.c.ReleaseDir)
	if err != nil {
		return RestorePreview{}, err
	}
	v := RestorePreview{Entry: p.Entry, ID: p.Entry.ID, Release: p.Entry.Release, CheckedOut: p.CheckedOut,
		Removes: p.Removes, Installed: p.Installed, CrossRelease: p.CrossRelease, Writes: []string{}, Unchanged: []string{}}
	if v.Removes == nil {
		v.Removes = []string{}
	}
	if p.CheckedOut != p.Entry.Release {
		v.Checkout = p.Entry.Release
	}
	for _, w := range p.Writes {
		if w.Unchanged {
			v.Unchanged = append(v.Unchanged, w.Path)
		} else {
			v.Writes = append(v.Writes, w.Path)
		}
	}
	// Going back needs the database as the entry's release had it; going
	// forward again, the migrations bring the database along.
	if p.CrossRelease && upgrade.CompareReleases(p.Entry.Release, p.Installed) < 0 {
		v.Database = f.databaseNotice(ctx, p)
	}
	return v, nil
}

// databaseNotice says plainly why the database stays as it is and how to
// put it back from the backup of the upgrade that left the entry's release.
func (f *Flow) databaseNotice(ctx context.Context, p history.RestorePlan) *DatabaseNotice {
	n := &DatabaseNotice{BackupEntry: p.BackupEntry, Backup: p.Backup}
	n.Message = fmt.Sprintf("CARTO's database migrations are forward-only: the database keeps the schema %s migrated it to, and the services of %s refuse a newer schema. carto-setup restores files, never a database.",
		p.Installed, p.Entry.Release)
	if tool, err := (deploy.SystemCompose{}).Detect(ctx); err == nil {
		n.StopCommand = shellJoin(tool.Args(f.c.Project, f.c.ReleaseDir, "stop"))
	}
	switch {
	case p.Backup == nil:
		n.Message += " No backup was recorded before the upgrade from " + p.Entry.Release + ": restore the database from your own backup of that time."
		return n
	case p.Backup.Path == "":
		n.Message += fmt.Sprintf(" Before upgrade %d no dump was taken; the admin relied on a snapshot of the managed database (%s): restore that snapshot.", p.BackupEntry, p.Backup.SnapshotReason)
		return n
	}
	n.Message += fmt.Sprintf(" The backup taken before upgrade %d is %s.", p.BackupEntry, p.Backup.Path)
	if err := backup.Check(p.Backup.Path, p.Backup.SHA256); err != nil {
		n.BackupCheck = err.Error()
	} else {
		n.BackupCheck = "intact: its checksum is the one recorded when it was taken"
	}
	t, err := databaseTarget(ctx, nil, f.c.ReleaseDir, f.c.Project)
	if err != nil {
		n.BackupCheck += "; the database settings could not be read for the command: " + err.Error()
		return n
	}
	conn := t.conn()
	if t.embedded {
		// The embedded database publishes no port: the command runs in
		// its container, with the file copied in.
		conn = backup.Conn{Host: "127.0.0.1", Port: 5432, User: t.conn().User, AdminDatabase: t.conn().AdminDatabase}
		n.Message += " The embedded database publishes no port: copy the file into the workspace-postgres container (docker cp) and run the command there."
	}
	conn.Password = ""
	n.RestoreCommand = backup.RestoreCommand(p.Backup.Path, conn)
	return n
}

// RestoreOptions are the admin's choices for one restore.
type RestoreOptions struct {
	// DatabaseRestored says the admin has put the database back as the
	// entry's release had it (DatabaseNotice): across releases the stack
	// is started only then, and stopped otherwise.
	DatabaseRestored bool
}

// RestoreReport is what a restore did.
type RestoreReport struct {
	RestorePreview
	Result    Result `json:"result"`
	Message   string `json:"message"`
	HistoryID int    `json:"history_id,omitempty"`
	// Started says Compose started the stack; Stopped that it stopped it
	// until the database is restored.
	Started bool `json:"started"`
	Stopped bool `json:"stopped"`
}

// Restore puts back the files of history entry id, byte for byte, with
// the containers' read access, after checking out the entry's release tag
// when the checkout moved on, and runs Compose. Across releases, unless
// opts.DatabaseRestored, it stops the stack instead of starting the
// entry's release against a database a newer release migrated, and says
// how to restore the database. It never touches the database.
func (f *Flow) Restore(ctx context.Context, id int, opts RestoreOptions, out io.Writer) RestoreReport {
	w := redact.NewLineWriter(out, redact.New(nil))
	defer w.Flush()
	logf := func(format string, args ...any) { w.Line(fmt.Sprintf(format, args...)) }
	var r RestoreReport
	fail := func(msg string) RestoreReport {
		r.Result, r.Message = ResultFailed, msg
		logf("%s", msg)
		return r
	}
	holder := strings.Replace(f.c.Holder, "upgrade", "restore", 1)
	lock, err := statelock.TryAcquire(f.c.StateDir, statelock.Self(holder, f.c.Now()))
	if err != nil {
		return fail("Nothing was changed: " + err.Error() + ".")
	}
	defer lock.Release()

	if r.RestorePreview, err = f.PreviewRestore(ctx, id); err != nil {
		return fail("Nothing was changed: " + err.Error() + ".")
	}
	if r.Checkout != "" {
		logf("Checking out %s: the entry's files belong with its docker-compose.yml and env.tpl.", r.Checkout)
		if err := Checkout(ctx, f.c.ReleaseDir, r.Checkout); err != nil {
			return fail("Nothing was changed: the checkout could not move to " + r.Checkout + ": " + err.Error())
		}
		if r.RestorePreview, err = f.PreviewRestore(ctx, id); err != nil {
			return fail("The checkout moved to " + r.Checkout + ", but the restore could not be planned: " + err.Error())
		}
		r.Checkout = r.Release
	}
	if d := r.Database; d != nil {
		logf("%s", d.Message)
		if d.RestoreCommand != "" {
			logf("To put the database back: stop the stack (%s), then run:\n  %s", d.StopCommand, d.RestoreCommand)
		}
	}
	plan, err := f.c.History.PlanRestore(id, f.c.ReleaseDir)
	if err != nil {
		return fail("Nothing was changed: " + err.Error())
	}
	rec, err := f.c.History.Restore(plan, f.c.Origin)
	if err != nil {
		return fail("The files could not all be restored (the files found are kept in the history): " + err.Error())
	}
	r.HistoryID = rec.ID()
	logf("Restored %d file(s) of entry %d (%s); %d unchanged, %d removed.", len(r.Writes), id, r.Release, len(r.Unchanged), len(r.Removes))
	restored := map[string][]byte{}
	for _, w := range plan.Writes {
		restored[w.Path] = w.Data
	}
	// The restored files are carto-setup's own writes: the next install
	// must not take them for hand edits.
	if err := deploy.RecordRestored(f.c.StateDir, f.c.ReleaseDir, restored, plan.Removes); err != nil {
		logf("The record of what carto-setup wrote could not be updated, so the next install may report the restored lines as hand edits: %v", err)
	}
	finish := func(res Result, msg string) RestoreReport {
		hr := history.Failed
		if res == ResultSucceeded {
			hr = history.Succeeded
		}
		if _, err := rec.Finish(hr, msg); err != nil {
			logf("The history entry could not be finished: %v", err)
		}
		r.Result, r.Message = res, msg
		logf("%s", msg)
		return r
	}

	eng, err := engine.New(ctx)
	if err != nil {
		return finish(ResultFailed, "The files are back, but the Docker Engine is not reachable, so Compose did not run: "+err.Error())
	}
	defer eng.Close()
	if _, err := deploy.GrantAccess(ctx, eng, f.c.ReleaseDir, logf); err != nil {
		return finish(ResultFailed, "The files are back, but the containers' read access could not be given: "+err.Error())
	}
	tool, err := (deploy.SystemCompose{}).Detect(ctx)
	if err != nil {
		return finish(ResultFailed, "The files are back, but Docker Compose was not found: "+err.Error())
	}
	if r.Database != nil && !opts.DatabaseRestored {
		argv := tool.Args(f.c.Project, f.c.ReleaseDir, "stop")
		logf("Running: %s", shellJoin(argv))
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Run(); err != nil {
			return finish(ResultFailed, "The files of entry "+fmt.Sprint(id)+" are back, but the stack could not be stopped: "+err.Error())
		}
		r.Stopped = true
		return finish(ResultSucceeded, fmt.Sprintf("The files of entry %d (%s) are back and the stack is stopped: restore the database as said above, then start it with %s (or carto-setup restore %d --database-restored).",
			id, r.Release, shellJoin(tool.Args(f.c.Project, f.c.ReleaseDir, "up", "-d", "--remove-orphans")), id))
	}
	err = deploy.Up(ctx, deploy.Deps{Compose: deploy.SystemCompose{}, Docker: eng}, deploy.UpConfig{
		ReleaseDir: f.c.ReleaseDir, Project: f.c.Project, Expect: f.c.Expect}, w)
	r.Started = true
	if err != nil {
		var de *deploy.Error
		msg := err.Error()
		if errors.As(err, &de) {
			msg = strings.TrimPrefix(de.Error(), "deploy: ")
		}
		return finish(ResultFailed, fmt.Sprintf("The files of entry %d are back, but the stack did not come up: %s", id, msg))
	}
	return finish(ResultSucceeded, fmt.Sprintf("Restored entry %d (%s): every service reached its expected state.", id, r.Release))
}

// shellJoin quotes argv for a POSIX shell.
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
