package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carto-setup/carto-setup/internal/atomicfile"
	"github.com/carto-setup/carto-setup/internal/engine"
	"github.com/carto-setup/carto-setup/internal/imagebundle"
	"github.com/carto-setup/carto-setup/internal/images"
	"github.com/carto-setup/carto-setup/internal/steps"
)

// ImagesUsage documents `carto-setup images`.
const ImagesUsage = `  carto-setup images save --dir RELEASE -o FILE
        pull every image of the release (where missing) and write them into one
        offline bundle FILE with a manifest and FILE.sha256, for a VM that
        cannot reach the registry
  carto-setup images load FILE
        check the bundle against its manifest, then load its images into Docker;
        a damaged bundle is refused, naming the images it affects
`

// Images is `carto-setup images save|load`.
func Images(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(env.Stdout, "Usage:\n%s", ImagesUsage)
		if len(args) == 0 {
			return ExitInvalid
		}
		return nil
	}
	switch args[0] {
	case "save":
		return imagesSave(ctx, env, args[1:])
	case "load":
		return imagesLoad(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "carto-setup images: unknown subcommand %q\n\nUsage:\n%s", args[0], ImagesUsage)
	return ExitInvalid
}

// imageEvents is where the install writes its pull progress as JSON
// lines: stderr with --json (stdout keeps the one JSON report), nowhere
// otherwise (stderr has the same progress as text).
func imageEvents(asJSON bool, stderr io.Writer) io.Writer {
	if asJSON {
		return stderr
	}
	return nil
}

// imagesSave is `carto-setup images save --dir RELEASE -o FILE`.
func imagesSave(ctx context.Context, env Env, args []string) error {
	const name = "carto-setup images save"
	var out string
	cfg, rest, err := parse(name, ImagesUsage, args, env.Getenv, env.Stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "o", "", "the bundle file to write")
	})
	if err != nil {
		return err
	}
	if err := noArgs(name, rest, env.Stderr); err != nil {
		return err
	}
	if out == "" {
		fmt.Fprintf(env.Stderr, "%s: -o FILE is missing: where to write the bundle\n", name)
		return ExitInvalid
	}
	list, err := images.ListRelease(cfg.Dir, nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %s is not a release checkout: %v\n", name, cfg.Dir, err)
		return ExitInvalid
	}
	refs := images.Refs(list)
	version, _ := os.ReadFile(filepath.Join(cfg.Dir, "VERSION"))
	eng, err := engine.New(ctx)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: the Docker Engine is not reachable: %v\n", name, err)
		return ExitFailed
	}
	defer eng.Close()

	// Every image must be on this engine to be saved: pull the missing.
	ic := steps.ImagesConfig{Remote: &images.Remote{Getenv: env.Getenv}, Stall: cfg.PullStall}
	if _, err := steps.PullImages(ctx, eng, refs, ic, nil, env.Stderr, nil); err != nil {
		var pe *images.Error
		if errors.As(err, &pe) {
			for _, f := range pe.Failures {
				fmt.Fprintf(env.Stderr, "%s: %s: %s %s\n", name, f.Image, f.Message, f.Hint)
			}
			fmt.Fprintf(env.Stderr, "%s: no bundle was written\n", name)
			return ExitFailed
		}
		return err
	}

	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	dir := filepath.Dir(abs)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".tmp-*")
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return ExitFailed
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	defer tmp.Close()
	fmt.Fprintf(env.Stderr, "Saving %d images into %s.\n", len(refs), abs)
	var lastReport time.Time
	sum, err := imagebundle.Save(ctx, eng, refs, tmp, imagebundle.SaveOptions{
		Release: strings.TrimSpace(string(version)), TempDir: dir,
		OnProgress: func(done, total int64) {
			if time.Since(lastReport) >= 5*time.Second || done >= total {
				lastReport = time.Now()
				fmt.Fprintf(env.Stderr, "  exported %s of about %s\n", images.FormatBytes(done), images.FormatBytes(total))
			}
		},
	})
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), abs)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return ExitFailed
	}
	// sha256sum -c reads this file, for the copy to be checked on arrival.
	if err := atomicfile.WriteFile(abs+".sha256", []byte(sum.SHA256+"  "+filepath.Base(abs)+"\n"), 0o644); err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return ExitFailed
	}
	fmt.Fprintf(env.Stdout, "Saved %d images (%s) to %s\n", len(sum.Manifest.Images), images.FormatBytes(sum.Size), abs)
	for _, im := range sum.Manifest.Images {
		fmt.Fprintf(env.Stdout, "  %s  %s  %s\n", im.Ref, im.ID, images.FormatBytes(im.Size))
	}
	fmt.Fprintf(env.Stdout, "SHA-256 %s (in %s.sha256)\n", sum.SHA256, filepath.Base(abs))
	fmt.Fprintf(env.Stdout, "On the VM: carto-setup images load %s\n", filepath.Base(abs))
	return nil
}

// imagesLoad is `carto-setup images load FILE`.
func imagesLoad(ctx context.Context, env Env, args []string) error {
	const name = "carto-setup images load"
	_, rest, err := parse(name, ImagesUsage, args, env.Getenv, env.Stderr, nil)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		fmt.Fprintf(env.Stderr, "%s: give the bundle file, and only it\n", name)
		return ExitInvalid
	}
	f, err := os.Open(rest[0])
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return ExitInvalid
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return ExitFailed
	}
	// The whole bundle is checked before Docker is even asked.
	progress := loadProgress(env.Stderr)
	m, err := imagebundle.Verify(f, progress, fi.Size())
	if err == nil {
		var eng *engine.Client
		if eng, err = engine.New(ctx); err != nil {
			fmt.Fprintf(env.Stderr, "%s: the Docker Engine is not reachable: %v\n", name, err)
			return ExitFailed
		}
		defer eng.Close()
		m, err = imagebundle.Load(ctx, eng, f, imagebundle.LoadOptions{Verified: m, OnProgress: progress,
			OnLine: func(line string) { fmt.Fprintln(env.Stderr, "  "+line) }})
	}
	var ce *imagebundle.CorruptError
	if errors.As(err, &ce) {
		fmt.Fprintf(env.Stderr, "%s: %s is damaged: %s\n", name, rest[0], ce.Reason)
		if len(ce.Images) > 0 {
			fmt.Fprintf(env.Stderr, "%s: affected images: %s\n", name, strings.Join(ce.Images, ", "))
		}
		fmt.Fprintf(env.Stderr, "%s: nothing was loaded; copy the bundle again (sha256sum -c %s.sha256 checks the copy)\n", name, filepath.Base(rest[0]))
		return ExitFailed
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return ExitFailed
	}
	fmt.Fprintf(env.Stdout, "Loaded %d images:\n", len(m.Images))
	for _, im := range m.Images {
		fmt.Fprintf(env.Stdout, "  %s\n", im.Ref)
	}
	return nil
}

// loadProgress reports a bundle's passes every few seconds.
func loadProgress(w io.Writer) imagebundle.Progress {
	var last time.Time
	var lastPass string
	return func(pass string, done, total int64) {
		if pass == lastPass && time.Since(last) < 5*time.Second && done < total {
			return
		}
		last, lastPass = time.Now(), pass
		what := map[string]string{"verify": "checked", "load": "loaded"}[pass]
		fmt.Fprintf(w, "  %s %s of %s\n", what, images.FormatBytes(done), images.FormatBytes(total))
	}
}
