package images

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/net/http/httpproxy"

	"github.com/carto-setup/carto-setup/internal/engine"
)

// Remote asks registries about images, the way the Docker Engine would
// reach them (same credentials, same plain-HTTP rule), without downloading
// any layer.
type Remote struct {
	// Keychain supplies credentials per registry; nil means Docker's own
	// (the config.json and credential helpers of the user carto-setup runs
	// as), which is what `docker login` writes.
	Keychain authn.Keychain
	// Insecure reports the registries Docker reaches over plain HTTP;
	// DockerInsecure builds it from the engine's settings. Nil means the
	// engine's default: registries on 127.0.0.0/8.
	Insecure func(host string) bool
	// Getenv reads carto-setup's own proxy variables (HTTPS_PROXY,
	// NO_PROXY, ...); nil means no proxy. The daemon's proxy is separate.
	Getenv func(string) string
	// Platform is the engine's, to pick an image from a multi-platform
	// index; zero means linux/amd64.
	Platform v1.Platform
	// Timeout bounds each request; zero means 15 seconds.
	Timeout time.Duration
}

// Layer is one compressed layer of an image manifest.
type Layer struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Manifest is what a registry says about one image, for this platform.
type Manifest struct {
	Ref    string  `json:"image"`
	Digest string  `json:"digest"` // of the manifest the tag points at
	Layers []Layer `json:"layers"`
	Config int64   `json:"config_size"`
}

// Size is the bytes a pull downloads: the compressed layers and the config.
func (m Manifest) Size() int64 {
	n := m.Config
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// ShortSizes maps the daemon's short layer ids (12 hex digits of the
// digest) to sizes, to seed a pull's progress.
func (m Manifest) ShortSizes() map[string]int64 {
	out := map[string]int64{}
	for _, l := range m.Layers {
		hex := strings.TrimPrefix(l.Digest, "sha256:")
		if len(hex) >= 12 {
			out[hex[:12]] = l.Size
		}
	}
	return out
}

// RemoteError is a registry request that failed, classified.
type RemoteError struct {
	Ref    string // image, or registry host for a ping
	Kind   Kind
	Detail string
	Proxy  Proxy
}

func (e *RemoteError) Error() string {
	return "images: " + e.Ref + ": " + string(e.Kind) + ": " + e.Detail
}

// Failure turns the error into a Failure with the fix. The proxy named is
// carto-setup's own, which made the request.
func (e *RemoteError) Failure() Failure {
	f := failureFor(e.Ref, e.Detail, e.Kind, e.Proxy, "")
	if e.Kind == Unreachable {
		f.Message = fmt.Sprintf("The registry %s does not answer carto-setup.", Registry(e.Ref))
		f.Hint = e.Proxy.describe("carto-setup's connection to "+Registry(e.Ref)) + " Allow HTTPS from this VM to " +
			Registry(e.Ref) + ", or set HTTPS_PROXY for carto-setup and for the Docker daemon; without a route, " +
			"use an offline bundle (carto-setup images save / images load)."
	}
	return f
}

func (r *Remote) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return 15 * time.Second
}

func (r *Remote) keychain() authn.Keychain {
	if r.Keychain != nil {
		return r.Keychain
	}
	return authn.DefaultKeychain
}

func (r *Remote) proxyConfig() *httpproxy.Config {
	get := r.Getenv
	if get == nil {
		get = func(string) string { return "" }
	}
	either := func(k string) string {
		if v := get(k); v != "" {
			return v
		}
		return get(strings.ToLower(k))
	}
	return &httpproxy.Config{HTTPProxy: either("HTTP_PROXY"), HTTPSProxy: either("HTTPS_PROXY"), NoProxy: either("NO_PROXY")}
}

// proxyFor names the proxy carto-setup's request to host goes through.
func (r *Remote) proxyFor(host string) Proxy {
	return proxyOf(r.proxyConfig(), host, r.insecure(host), "carto-setup's environment")
}

func proxyOf(cfg *httpproxy.Config, host string, plain bool, source string) Proxy {
	u := &url.URL{Scheme: "https", Host: host}
	key := "HTTPS_PROXY"
	if plain {
		u.Scheme, key = "http", "HTTP_PROXY"
	}
	p, err := cfg.ProxyFunc()(u)
	if err != nil || p == nil {
		return Proxy{}
	}
	return Proxy{URL: redactURL(p), Source: key + " of " + source}
}

// redactURL drops a password from a proxy URL before it is shown.
func redactURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.User(u.User.Username())
	return c.String()
}

func (r *Remote) insecure(host string) bool {
	if r.Insecure == nil {
		return defaultInsecure(host)
	}
	return r.Insecure(host)
}

// defaultInsecure is the Docker Engine's rule when nothing is configured.
func defaultInsecure(host string) bool {
	return DockerInsecure(engine.Info{InsecureRegistryCIDRs: []string{"127.0.0.0/8"}}, nil)(host)
}

func (r *Remote) transport() http.RoundTripper {
	cfg := r.proxyConfig()
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = func(req *http.Request) (*url.URL, error) { return cfg.ProxyFunc()(req.URL) }
	return httpsOnly{next: t, insecure: r.insecure}
}

// httpsOnly refuses plain HTTP to a registry the Docker Engine would reach
// only over HTTPS. go-containerregistry falls back to HTTP for private
// addresses by itself; Docker does not, so a check that did would pass
// where the pull then fails.
type httpsOnly struct {
	next     http.RoundTripper
	insecure func(host string) bool
}

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !h.insecure(req.URL.Host) {
		return nil, fmt.Errorf("images: the Docker Engine reaches %s over HTTPS only (it is not among its insecure registries), "+
			"but this request fell back to plain HTTP: server gave HTTP response to HTTPS client", req.URL.Host)
	}
	return h.next.RoundTrip(req)
}

func (r *Remote) options(ctx context.Context) []remote.Option {
	p := r.Platform
	if p.OS == "" {
		p = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	return []remote.Option{
		remote.WithContext(ctx), remote.WithAuthFromKeychain(r.keychain()), remote.WithTransport(r.transport()),
		remote.WithPlatform(p),
		// One quick retry: a check must answer in seconds, and a pull
		// retries by itself.
		remote.WithRetryBackoff(remote.Backoff{Duration: 300 * time.Millisecond, Factor: 2, Steps: 2}),
	}
}

func (r *Remote) parse(ref string) (name.Reference, error) {
	var opts []name.Option
	if r.insecure(Registry(ref)) {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(ref, opts...)
}

// Manifest fetches the manifest of ref (and, for a multi-platform index,
// the one of this platform). No layer is downloaded. A failure is a
// *RemoteError.
func (r *Remote) Manifest(ctx context.Context, ref string) (Manifest, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	fail := func(err error) (Manifest, error) {
		return Manifest{}, &RemoteError{Ref: ref, Kind: remoteKind(err), Detail: err.Error(), Proxy: r.proxyFor(Registry(ref))}
	}
	nref, err := r.parse(ref)
	if err != nil {
		return Manifest{}, &RemoteError{Ref: ref, Kind: Other, Detail: err.Error()}
	}
	desc, err := remote.Get(nref, r.options(ctx)...)
	if err != nil {
		return fail(err)
	}
	img, err := desc.Image()
	if err != nil {
		return fail(err)
	}
	mf, err := img.Manifest()
	if err != nil {
		return fail(err)
	}
	m := Manifest{Ref: ref, Digest: desc.Digest.String(), Config: mf.Config.Size}
	for _, l := range mf.Layers {
		m.Layers = append(m.Layers, Layer{Digest: l.Digest.String(), Size: l.Size})
	}
	return m, nil
}

// Ping checks that the registry host answers its API (GET /v2/) and says
// whether it asks for a login. A failure is a *RemoteError.
func (r *Remote) Ping(ctx context.Context, host string) (loginRequired bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	var opts []name.Option
	if r.insecure(host) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return false, &RemoteError{Ref: host, Kind: Other, Detail: err.Error()}
	}
	ch, err := transport.Ping(ctx, reg, r.transport())
	if err != nil {
		return false, &RemoteError{Ref: host + "/", Kind: pingKind(err), Detail: err.Error(), Proxy: r.proxyFor(host)}
	}
	return ch.Scheme != "" && !strings.EqualFold(ch.Scheme, "anonymous"), nil
}

// remoteKind classifies a go-containerregistry error by its HTTP status
// or registry error code first, its text otherwise.
func remoteKind(err error) Kind {
	if errors.Is(err, context.Canceled) {
		return Cancelled
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return Denied
		case http.StatusNotFound:
			return NotFound
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return Denied
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
				return NotFound
			}
		}
	}
	return netKind(err)
}

// pingKind classifies a failed ping: every transport failure there means
// the registry cannot be used.
func pingKind(err error) Kind {
	if k := remoteKind(err); k == Denied || k == TLS || k == Cancelled {
		return k
	}
	return Unreachable
}

// Credentials returns the login the keychain holds for the registry of
// ref, in the form the engine passes on, or nil for anonymous access.
func Credentials(ctx context.Context, kc authn.Keychain, ref string) (*engine.RegistryAuth, error) {
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	reg, err := name.NewRegistry(Registry(ref), name.WeakValidation)
	if err != nil {
		return nil, fmt.Errorf("images: credentials for %s: %w", ref, err)
	}
	a, err := authn.Resolve(ctx, kc, reg)
	if err != nil {
		return nil, fmt.Errorf("images: credentials for %s: %w", reg.RegistryStr(), err)
	}
	if a == authn.Anonymous {
		return nil, nil
	}
	cfg, err := authn.Authorization(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("images: credentials for %s: %w", reg.RegistryStr(), err)
	}
	out := &engine.RegistryAuth{
		Username: cfg.Username, Password: cfg.Password, IdentityToken: cfg.IdentityToken,
		RegistryToken: cfg.RegistryToken, ServerAddress: reg.RegistryStr(),
	}
	if out.Username == "" && cfg.Auth != "" {
		if b, err := base64.StdEncoding.DecodeString(cfg.Auth); err == nil {
			out.Username, out.Password, _ = strings.Cut(string(b), ":")
		}
	}
	if *out == (engine.RegistryAuth{ServerAddress: out.ServerAddress}) {
		return nil, nil
	}
	return out, nil
}

// DockerInsecure returns the rule by which the engine reaches a registry
// over plain HTTP: a registry named in its insecure-registries, or one
// whose address (looked up with lookup, nil meaning the system resolver)
// lies in its insecure CIDRs (by default 127.0.0.0/8).
func DockerInsecure(info engine.Info, lookup func(host string) ([]net.IP, error)) func(host string) bool {
	if lookup == nil {
		lookup = net.LookupIP
	}
	var nets []*net.IPNet
	for _, c := range info.InsecureRegistryCIDRs {
		if _, n, err := net.ParseCIDR(c); err == nil {
			nets = append(nets, n)
		}
	}
	return func(host string) bool {
		if slices.Contains(info.InsecureRegistries, host) {
			return true
		}
		h := host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			h = hh
		}
		ips := []net.IP{net.ParseIP(h)}
		if ips[0] == nil {
			var err error
			if ips, err = lookup(h); err != nil {
				return false
			}
		}
		for _, ip := range ips {
			for _, n := range nets {
				if n.Contains(ip) {
					return true
				}
			}
		}
		return false
	}
}

// DaemonProxy names the proxy the Docker daemon pulls from host through,
// from the engine's own settings.
func DaemonProxy(info engine.Info, host string, plain bool) Proxy {
	cfg := &httpproxy.Config{HTTPProxy: info.HTTPProxy, HTTPSProxy: info.HTTPSProxy, NoProxy: info.NoProxy}
	return proxyOf(cfg, host, plain, "the Docker daemon's environment")
}
