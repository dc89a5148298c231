// Package static embeds the wizard's CSS and JavaScript and serves them
// under content-hashed URLs with a long cache lifetime. Pages reach assets
// only through URL, so a changed file always gets a new URL.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"sync"
)

//go:embed css js favicon.svg
var files embed.FS

// Prefix is where the assets are mounted.
const Prefix = "/static/"

var hashes = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	return m
})

// URL returns the hashed URL of an embedded asset, e.g. URL("css/app.css")
// is "/static/3fa2c1d0e9b8/css/app.css". An unknown name panics at render
// time in tests rather than shipping a broken link.
func URL(name string) string {
	h, ok := hashes()[name]
	if !ok {
		panic("static: no asset " + name)
	}
	return Prefix + h + "/" + name
}

// Handler serves the assets below Prefix. A request whose hash matches the
// current content is cacheable for a year; any other hash is a 404, so a
// stale page never gets a mismatched asset cached forever.
func Handler() http.Handler {
	fsrv := http.FileServerFS(files)
	return http.StripPrefix(Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hash, name, ok := strings.Cut(r.URL.Path, "/")
		if !ok || hashes()[name] != hash {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		fsrv.ServeHTTP(w, r2)
	}))
}
