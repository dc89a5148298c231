package smoketest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
)

// routerPage is a path the router must serve.
type routerPage struct {
	id, path, service string
}

// routerPages are the web apps behind the router (carto-facts §5).
var routerPages = []routerPage{
	{id: "smoke.router.workspace", path: "/", service: "workspace-www"},
	{id: "smoke.router.accounts", path: "/acc/", service: "accounts-www"},
}

// routerHealth are the APIs' health endpoints as the router may proxy them;
// CARTO's router config is not public, so a 404 there is "unknown".
var routerHealth = []routerPage{
	{id: "smoke.router.health.workspace-api", path: "/workspace-api/health", service: "workspace-api"},
	{id: "smoke.router.health.maps-api", path: "/api/health", service: "maps-api"},
}

// client returns an HTTP client that always connects to the VM's router,
// whatever host the URL names, and does not follow redirects. The
// certificate is not verified here: the certificate check judges it.
func (cfg Config) client(deps Deps, port int) *http.Client {
	addr := net.JoinHostPort(cfg.Address, strconv.Itoa(port))
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return deps.Dial(ctx, network, addr)
			},
			TLSClientConfig:   &tls.Config{ServerName: cfg.Domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(ctx context.Context, c *http.Client, url string, header map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, nil
}

// redirect checks that plain HTTP on port 80 redirects to HTTPS.
func redirect(ctx context.Context, deps Deps, cfg Config) check.Result {
	r := check.Result{Step: Step, ID: "smoke.http.redirect", Required: "301 or 308 to https://" + cfg.Domain + "/"}
	resp, err := get(ctx, cfg.client(deps, cfg.HTTPPort), "http://"+cfg.Domain+"/", nil)
	if err != nil {
		r.Status, r.Measured = check.Fail, "no answer"
		r.Message = "Plain HTTP on " + cfg.httpAddr() + " did not answer: " + netReason(err) + "."
		r.Hint = "Check that router-http publishes the HTTP port (80) and that no firewall or other program holds it."
		return r
	}
	loc := resp.Header.Get("Location")
	r.Measured = strconv.Itoa(resp.StatusCode)
	if loc != "" {
		r.Measured += " to " + loc
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400 && strings.HasPrefix(loc, "https://"+cfg.Domain):
		r.Status, r.Message = check.Pass, "Plain HTTP redirects to HTTPS."
		if resp.StatusCode != http.StatusMovedPermanently && resp.StatusCode != http.StatusPermanentRedirect {
			r.Status, r.Message = check.Warn, "Plain HTTP redirects to HTTPS, but not permanently."
		}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		r.Status, r.Message = check.Fail, "Plain HTTP redirects, but not to https://"+cfg.Domain+"."
		r.Hint = "Check SELFHOSTED_DOMAIN in customer.env and restart router-http."
	default:
		r.Status, r.Message = check.Fail, fmt.Sprintf("Plain HTTP answered %d instead of redirecting to HTTPS.", resp.StatusCode)
		r.Hint = "Something other than router-http may answer on the HTTP port; check what listens there."
	}
	return r
}

// page checks that the router serves a web app with 200.
func page(ctx context.Context, deps Deps, cfg Config, p routerPage) check.Result {
	url := "https://" + cfg.Domain + p.path
	r := check.Result{Step: Step, ID: p.id, Required: "200"}
	resp, err := get(ctx, cfg.client(deps, cfg.HTTPSPort), url, nil)
	if err != nil {
		r.Status, r.Measured = check.Fail, "no answer"
		r.Message = "GET " + url + " got no answer: " + netReason(err) + "."
		r.Hint = "Check that router-http is running and its HTTPS port is published."
		return r
	}
	r.Measured = strconv.Itoa(resp.StatusCode)
	if resp.StatusCode == http.StatusOK {
		r.Status, r.Message = check.Pass, "GET "+url+" answers 200 through the router."
		return r
	}
	r.Status = check.Fail
	r.Message = fmt.Sprintf("GET %s answered %d through the router, not 200.", url, resp.StatusCode)
	r.Hint = "Check that " + p.service + " is running and read the router's and " + p.service + "'s logs."
	return r
}

// routedHealth asks an API's health endpoint through the router; a 404
// means the router does not proxy it, which proves nothing either way.
func routedHealth(ctx context.Context, deps Deps, cfg Config, p routerPage) check.Result {
	url := "https://" + cfg.Domain + p.path
	r := check.Result{Step: Step, ID: p.id, Required: "200 (404: not routed, unknown)"}
	resp, err := get(ctx, cfg.client(deps, cfg.HTTPSPort), url, map[string]string{"Carto-Monitoring": "true"})
	if err != nil {
		r.Status, r.Measured = check.Fail, "no answer"
		r.Message = "GET " + url + " got no answer: " + netReason(err) + "."
		r.Hint = "Check that router-http is running and its HTTPS port is published."
		return r
	}
	r.Measured = strconv.Itoa(resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusOK:
		r.Status, r.Message = check.Pass, p.service+"'s health endpoint answers through the router."
	case http.StatusNotFound:
		r.Status, r.Message = check.Warn, "Unknown: the router does not route "+p.path+" (404), which CARTO's router need not do. The in-network check decides."
	default:
		r.Status = check.Fail
		r.Message = fmt.Sprintf("%s's health endpoint answered %d through the router.", p.service, resp.StatusCode)
		r.Hint = "Check that " + p.service + " is running and read its log."
	}
	return r
}

// health probes each target from inside the Compose network.
func health(ctx context.Context, deps Deps, cfg Config) []check.Result {
	urls := make([]string, len(cfg.Health))
	for i, t := range cfg.Health {
		urls[i] = t.URL
	}
	answers, err := deps.Probe(ctx, urls)
	byURL := map[string]Answer{}
	for _, a := range answers {
		byURL[a.URL] = a
	}
	var out []check.Result
	for _, t := range cfg.Health {
		r := check.Result{Step: Step, ID: "smoke.health." + t.Service, Required: "200 to GET " + t.URL + " with Carto-Monitoring: true"}
		a, ok := byURL[t.URL]
		switch {
		case err != nil:
			r.Status, r.Measured = check.Error, "probe not run"
			r.Message = "The probe container could not run inside the Compose network, so " + t.Service + "'s health is unknown."
			r.Hint = "Check that Docker may start containers and that the network of the Compose project exists; the console log has the reason."
		case !ok || a.Error != "":
			r.Status, r.Measured = check.Fail, "no answer"
			r.Message = t.Service + " did not answer its health check inside the Compose network"
			if a.Error != "" {
				r.Message += ": " + a.Error
			}
			r.Message += "."
			r.Hint = "Check that " + t.Service + " is running and read its last log lines."
		case a.Status == http.StatusOK:
			r.Status, r.Measured, r.Message = check.Pass, "200", t.Service+" answers its health check."
		default:
			r.Status, r.Measured = check.Fail, strconv.Itoa(a.Status)
			r.Message = fmt.Sprintf("%s answered its health check with %d.", t.Service, a.Status)
			r.Hint = "Read " + t.Service + "'s log: it runs but reports itself unhealthy, usually because of the database, the cache or customer.env."
		}
		out = append(out, r)
	}
	return out
}
