package standin

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/carto-setup/carto-setup/internal/selfsigned"
)

// route sends requests under prefix to upstream (host:port); strip removes
// the prefix first, as the APIs are mounted at their root.
type route struct {
	prefix   string
	variable string // the env.tpl variable naming the upstream
	upstream string
	strip    bool
}

// routerConfig is what router-http reads.
type routerConfig struct {
	domain            string
	autogenerate      bool
	certPath, keyPath string
	routes            []route
	httpsPort         int
	httpPort          int
}

// readRouterConfig reads the router's TLS settings (carto-facts §3.4) and
// the upstreams named in env.tpl. ROUTER_SSL_AUTOGENERATE=1 generates a
// self-signed certificate; 0 requires both paths; unset uses the paths when
// they are given and generates otherwise, which is CARTO's default.
func readRouterConfig(e *env, domain string) routerConfig {
	c := routerConfig{domain: domain, httpsPort: 8443, httpPort: 8080}
	auto := e.oneOf("ROUTER_SSL_AUTOGENERATE", "", "0", "1")
	c.certPath = e.optional("ROUTER_SSL_CERTIFICATE_PATH")
	c.keyPath = e.optional("ROUTER_SSL_CERTIFICATE_KEY_PATH")
	switch {
	case auto == "1":
		c.autogenerate = true
	case auto == "" && c.certPath == "" && c.keyPath == "":
		c.autogenerate = true
	default:
		c.certPath = e.file("ROUTER_SSL_CERTIFICATE_PATH", true)
		c.keyPath = e.file("ROUTER_SSL_CERTIFICATE_KEY_PATH", true)
	}
	for _, r := range []route{
		{prefix: "/acc/", variable: "ACCOUNTS_WWW_INTERNAL_URL"},
		{prefix: "/workspace-api/", variable: "WORKSPACE_API_INTERNAL_URL", strip: true},
		{prefix: "/api/", variable: "MAPS_API_INTERNAL_URL", strip: true},
		{prefix: "/", variable: "WORKSPACE_WWW_INTERNAL_URL"},
	} {
		r.upstream = e.required(r.variable)
		if r.upstream != "" {
			if _, _, err := net.SplitHostPort(r.upstream); err != nil || strings.Contains(r.upstream, "/") {
				e.problem("%s=%q is not host:port", r.variable, r.upstream)
			}
		}
		c.routes = append(c.routes, r)
	}
	return c
}

// certificate loads or generates the router's certificate.
func (c routerConfig) certificate(lg *logger) (tls.Certificate, error) {
	if c.autogenerate {
		certPEM, keyPEM, err := selfsigned.Generate(selfsigned.Request{
			CommonName: c.domain,
			DNSNames:   []string{c.domain},
			NotBefore:  time.Now(),
			Validity:   365 * 24 * time.Hour,
		})
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("router certificate: %w", err)
		}
		lg.info("ROUTER_SSL_AUTOGENERATE: generated a self-signed certificate", "domain", c.domain)
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("router certificate: %w", err)
		}
		return cert, nil
	}
	certPEM, err := os.ReadFile(c.certPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("router certificate: ROUTER_SSL_CERTIFICATE_PATH: %w", err)
	}
	keyPEM, err := os.ReadFile(c.keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("router certificate: ROUTER_SSL_CERTIFICATE_KEY_PATH: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("router certificate: %s and %s do not make a usable pair (is the key passphrase-protected?): %w",
			c.certPath, c.keyPath, err)
	}
	lg.info("loaded the router certificate", "certificate", c.certPath, "key", c.keyPath, "chain_length", len(cert.Certificate))
	return cert, nil
}

// routerHandler proxies by path prefix, the longest prefix first.
func routerHandler(routes []route, lg *logger, served *atomic.Int64) http.Handler {
	mux := http.NewServeMux()
	for _, r := range routes {
		target := &url.URL{Scheme: "http", Host: r.upstream}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				if r.strip {
					p := "/" + strings.TrimPrefix(pr.In.URL.Path, r.prefix)
					pr.Out.URL.Path, pr.Out.URL.RawPath = p, ""
				}
				pr.SetXForwarded()
				pr.Out.Host = pr.In.Host
			},
			ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
				lg.warn("upstream unreachable", "path", req.URL.Path, "upstream", r.upstream, "error", err.Error())
				http.Error(w, "502 bad gateway: "+r.upstream+" is unreachable", http.StatusBadGateway)
			},
		}
		mux.Handle(r.prefix, proxy)
	}
	return logRequests(mux, lg, served)
}

// redirectHandler sends every plain-HTTP request to the same path over
// HTTPS on the configured domain, with 301 as nginx does.
func redirectHandler(domain string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+domain+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}

// serveRouter plays router-http: HTTPS on 8443, the redirect on 8080.
func serveRouter(ctx context.Context, c routerConfig, lg *logger, interval time.Duration) error {
	cert, err := c.certificate(lg)
	if err != nil {
		return err
	}
	var served atomic.Int64
	httpsLn, err := net.Listen("tcp", fmt.Sprintf(":%d", c.httpsPort))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpLn, err := net.Listen("tcp", fmt.Sprintf(":%d", c.httpPort))
	if err != nil {
		httpsLn.Close()
		return fmt.Errorf("listen: %w", err)
	}
	for _, r := range c.routes {
		lg.info("route", "prefix", r.prefix, "upstream", r.upstream, "strip_prefix", r.strip)
	}
	lg.info("listening", "https", httpsLn.Addr().String(), "http_redirect", httpLn.Addr().String(), "domain", c.domain)
	tlsSrv := newServer(routerHandler(c.routes, lg, &served))
	tlsSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	redirect := newServer(logRequests(redirectHandler(c.domain), lg, &served))
	return serveUntil(ctx, lg, interval, &served, serverListener{tlsSrv, httpsLn}, serverListener{redirect, httpLn})
}
