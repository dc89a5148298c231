package deploy

import (
	"slices"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/logstream"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// envMerge is the customer.env an install writes and how it came about.
type envMerge struct {
	file    *envfile.File
	out     editorOutput
	owned   []string // the keys the wizard sets or comments out now
	results []check.Result
	// For the report; values are raw, display masks them.
	kept        []envfile.Change
	pkg         []envfile.Change
	overwritten []envfile.Change
	conflicts   []Conflict
	keptMine    map[string]KeptValue
}

// mergeInput is what mergeCustomerEnv works from.
type mergeInput struct {
	st  wizard.State
	pkg []byte        // the uploaded package, renamed and LF
	dsk *envfile.File // customer.env on disk, renamed and LF; nil when absent
	rec *Record       // nil without a record of the last install
	res map[string]Resolution
	m   *logstream.Masker
}

// mergeCustomerEnv plans customer.env with the file on disk as the base:
//
//  1. A newer customer package is merged in three ways (base: the package
//     recorded last time; theirs: the uploaded one; ours: the disk) for
//     the keys the wizard does not set: CARTO's changes come in, hand
//     edits stay, a key both changed is a ConflictPackage.
//  2. A key the wizard set last time but no longer does goes back to the
//     package's value, unless it was edited by hand since.
//  3. The wizard's answers are applied (the block switches of CARTO's
//     package included).
//  4. A key the wizard sets that was edited by hand since the last install
//     (disk differs from the record) to another value than the wizard's is
//     a ConflictWizard: the wizard's value stays planned until it is
//     resolved, and Apply refuses to write while any is open; KeepMine puts
//     the hand value back.
//
// Without a record (the first install through this version, or a
// customer.env written by install.sh) hand edits cannot be told from
// earlier wizard answers: keys the wizard does not set keep the disk's
// value (reported as kept), and the wizard's keys take its answers, every
// disk value they replace being reported as overwritten (and customer.env
// is backed up before it is replaced).
func mergeCustomerEnv(in mergeInput) (envMerge, error) {
	var em envMerge
	pkgF, err := envfile.Parse(in.pkg)
	if err != nil {
		return em, err
	}
	// Which keys the wizard owns now: the editor on a scratch copy.
	scratch, _ := envfile.Parse(in.pkg)
	probe := &editor{f: scratch, orig: pkgF, src: in.pkg}
	probe.run(in.st)
	if len(probe.results) > 0 {
		em.results = probe.results
		return em, nil
	}
	em.owned = probe.touched
	owned := func(k string) bool { return slices.Contains(em.owned, k) }

	basePkg, baseWritten := pkgF, pkgF
	var prevOwned []string
	if in.rec != nil {
		if basePkg, err = envfile.Parse([]byte(in.rec.Package)); err != nil {
			basePkg = pkgF
		}
		if baseWritten, err = envfile.Parse([]byte(in.rec.CustomerEnv)); err != nil {
			baseWritten = pkgF
		}
		prevOwned = in.rec.WizardKeys
	}
	work := scratchCopy(in.pkg)
	if in.dsk != nil {
		work = scratchCopy(in.dsk.Bytes())
	}

	// 1. The package, for the keys the wizard leaves alone.
	notWizard := func(k string) bool { return !owned(k) && !slices.Contains(prevOwned, k) }
	var pkgConflicts []envfile.Conflict
	mr, err := envfile.Merge(basePkg, work, pkgF, notWizard, func(c envfile.Conflict) (bool, bool) {
		switch in.res[c.Key] {
		case KeepMine:
			return true, false
		case TakeWizard:
			return true, true
		}
		return false, false
	})
	if err != nil {
		return em, err
	}
	pkgConflicts = mr.Conflicts
	em.pkg = mr.Taken
	for _, r := range mr.Resolved {
		em.conflicts = append(em.conflicts, in.conflict(ConflictPackage, r.Key, r.Ours, r.Theirs, resolutionOf(r.TookTheirs)))
		if r.TookTheirs {
			if c, ok := envfile.ChangeOf(r.Key, r.Base, r.Theirs); ok {
				em.pkg = append(em.pkg, c)
			}
		}
	}
	for _, c := range pkgConflicts {
		em.conflicts = append(em.conflicts, in.conflict(ConflictPackage, c.Key, c.Ours, c.Theirs, ""))
	}

	// 2. Keys the wizard let go of.
	for _, k := range prevOwned {
		if owned(k) {
			continue
		}
		b, o, t := envfile.ValueOf(baseWritten, k), envfile.ValueOf(work, k), envfile.ValueOf(pkgF, k)
		if o == b && o != t {
			if err := work.Assign(k, t); err != nil {
				return em, err
			}
		}
	}

	// 3. The wizard's answers.
	ed := &editor{f: work, orig: pkgF, src: in.pkg}
	em.out = ed.run(in.st)
	if len(ed.results) > 0 {
		em.results = ed.results
		return em, nil
	}

	// 4. Hand edits of the wizard's keys.
	em.keptMine = map[string]KeptValue{}
	var keptBefore []string
	if in.dsk != nil {
		for _, k := range em.owned {
			b, o, t := envfile.ValueOf(baseWritten, k), envfile.ValueOf(in.dsk, k), envfile.ValueOf(work, k)
			if o == t {
				continue
			}
			earlier, wasKept := KeptValue{}, false
			if in.rec != nil {
				earlier, wasKept = in.rec.KeptMine[k]
				wasKept = wasKept && earlier.Hand == o
			}
			if o == b && !wasKept {
				continue
			}
			if in.rec == nil {
				if c, ok := envfile.ChangeOf(k, o, t); ok {
					em.overwritten = append(em.overwritten, c)
				}
				continue
			}
			r := in.res[k]
			if r == "" && wasKept && earlier.Proposed == t {
				// Decided before, and neither side has changed since.
				if err := work.Assign(k, o); err != nil {
					return em, err
				}
				em.keptMine[k] = earlier
				keptBefore = append(keptBefore, k)
				continue
			}
			if r == KeepMine {
				if err := work.Assign(k, o); err != nil {
					return em, err
				}
				em.keptMine[k] = KeptValue{Hand: o, Proposed: t}
			}
			if r != KeepMine && r != TakeWizard {
				r = ""
			}
			em.conflicts = append(em.conflicts, in.conflict(ConflictWizard, k, o, t, r))
		}
	}

	// Hand edits kept: every key the disk changed since the last write
	// (or, without a record, from the package) that is not the wizard's
	// and not in conflict.
	if in.dsk != nil {
		conflicted := func(k string) bool {
			return slices.ContainsFunc(em.conflicts, func(c Conflict) bool { return c.Key == k })
		}
		em.kept = envfile.Changes(baseWritten, in.dsk, func(k string) bool { return !owned(k) && !conflicted(k) })
		for _, k := range keptBefore {
			if c, ok := envfile.ChangeOf(k, em.keptMine[k].Proposed, em.keptMine[k].Hand); ok {
				em.kept = append(em.kept, c)
			}
		}
	}
	em.file = work
	return em, nil
}

func (in mergeInput) conflict(kind ConflictKind, key string, hand, proposed envfile.Value, r Resolution) Conflict {
	return Conflict{Kind: kind, Key: key, Hand: display(key, hand, in.m), HandSet: hand.Set,
		Proposed: display(key, proposed, in.m), ProposedSet: proposed.Set, Resolution: r}
}

func resolutionOf(tookTheirs bool) Resolution {
	if tookTheirs {
		return TakeWizard
	}
	return KeepMine
}

// scratchCopy parses bytes that are known to parse.
func scratchCopy(b []byte) *envfile.File {
	f, err := envfile.Parse(b)
	if err != nil {
		f, _ = envfile.Parse(nil)
	}
	return f
}
