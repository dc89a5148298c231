package standin

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// env reads variables through getenv and collects every problem, so that a
// misconfigured service names all of its bad variables at once rather than
// one per restart.
type env struct {
	getenv   func(string) string
	problems []string
}

func (e *env) problem(format string, args ...any) {
	e.problems = append(e.problems, fmt.Sprintf(format, args...))
}

// optional returns the value of name, or "" if it is unset. A value that
// still holds the customer package's <FILL_ME> placeholder is a problem.
func (e *env) optional(name string) string {
	v := e.getenv(name)
	if strings.Contains(v, "<FILL_ME>") {
		e.problem("%s still holds the placeholder <FILL_ME>", name)
		return ""
	}
	return v
}

// required returns the value of name and records a problem when it is unset
// or empty.
func (e *env) required(name string) string {
	v := e.optional(name)
	if v == "" && !strings.Contains(e.getenv(name), "<FILL_ME>") {
		e.problem("%s is not set", name)
	}
	return v
}

// port returns the TCP port in name, which must be 1-65535.
func (e *env) port(name string) int {
	v := e.required(name)
	if v == "" {
		return 0
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		e.problem("%s=%q is not a TCP port (1-65535)", name, v)
		return 0
	}
	return p
}

// oneOf returns the value of name, def when it is unset, and records a
// problem when the value is not one of allowed.
func (e *env) oneOf(name, def string, allowed ...string) string {
	v := e.optional(name)
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.problem("%s=%q is not one of %s", name, v, strings.Join(allowed, ", "))
	return def
}

// file returns the path in name (required or not) and records a problem
// when it is set but the file cannot be read.
func (e *env) file(name string, required bool) string {
	var v string
	if required {
		v = e.required(name)
	} else {
		v = e.optional(name)
	}
	if v == "" {
		return ""
	}
	if _, err := os.ReadFile(v); err != nil {
		e.problem("%s=%q: the file cannot be read: %v", name, v, err)
	}
	return v
}

// domain returns SELFHOSTED_DOMAIN, which must be a bare domain name: CARTO
// builds every URL as https://$SELFHOSTED_DOMAIN/..., so a scheme, a path or
// a port breaks them all.
func (e *env) domain() string {
	const name = "SELFHOSTED_DOMAIN"
	v := e.required(name)
	if v == "" {
		return ""
	}
	if reason := badDomain(v); reason != "" {
		e.problem("%s=%q is not a domain name: %s", name, v, reason)
		return ""
	}
	return v
}

// badDomain says why v is not a bare DNS name, or returns "".
func badDomain(v string) string {
	switch {
	case strings.Contains(v, "://"):
		return "it has a scheme"
	case strings.ContainsAny(v, "/?#"):
		return "it has a path"
	case strings.Contains(v, ":"):
		return "it has a port"
	case strings.ContainsAny(v, " \t'\""):
		return "it has spaces or quotes"
	case net.ParseIP(v) != nil:
		return "it is an IP address"
	case len(v) > 253:
		return "it is longer than 253 characters"
	}
	for _, label := range strings.Split(v, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "it has an empty, too long or badly hyphenated label"
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Sprintf("it has the character %q", r)
			}
		}
	}
	return ""
}

// tenant returns SELFHOSTED_TENANT_ID, which CARTO issues as onp-<id>.
func (e *env) tenant() string {
	const name = "SELFHOSTED_TENANT_ID"
	v := e.required(name)
	if v != "" && (!strings.HasPrefix(v, "onp-") || len(v) == len("onp-")) {
		e.problem("%s=%q does not have the form onp-<id>", name, v)
	}
	return v
}

// serviceAccount checks GOOGLE_APPLICATION_CREDENTIALS: the key.json that
// install.sh copies into certs/, which is CARTO's licence credential.
func (e *env) serviceAccount() string {
	const name = "GOOGLE_APPLICATION_CREDENTIALS"
	path := e.required(name)
	if path == "" {
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil {
		e.problem("%s=%q: the service-account key cannot be read: %v", name, path, err)
		return ""
	}
	var key struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if err := json.Unmarshal(data, &key); err != nil {
		e.problem("%s=%q is not JSON: %v", name, path, err)
		return ""
	}
	if key.Type != "service_account" || key.ClientEmail == "" || !strings.Contains(key.PrivateKey, "PRIVATE KEY") {
		e.problem("%s=%q is not a Google service-account key (type, client_email or private_key missing)", name, path)
		return ""
	}
	return key.ClientEmail
}

// mountedFiles checks the other files CARTO's Node services read from
// certs/ when .env names them: the extra CA bundle and the GCS bucket keys.
// Node only warns about an unreadable NODE_EXTRA_CA_CERTS and goes on
// without the CA, which fails later and far from the cause; the stand-in
// fails at once, naming the file.
func (e *env) mountedFiles() {
	for _, name := range []string{"NODE_EXTRA_CA_CERTS", "WORKSPACE_IMPORTS_KEYFILENAME", "WORKSPACE_THUMBNAILS_KEYFILENAME", "IMPORT_KEYFILENAME"} {
		e.file(name, false)
	}
}

// postgres holds the metadata database settings the services share.
type postgres struct {
	Host, User, Password, DB string
	Port                     int
	SSLMode, SSLCA           string
}

// workspacePostgres reads the WORKSPACE_POSTGRES_* block.
func (e *env) workspacePostgres() postgres {
	p := postgres{
		Host:     e.required("WORKSPACE_POSTGRES_HOST"),
		Port:     e.port("WORKSPACE_POSTGRES_PORT"),
		User:     e.required("WORKSPACE_POSTGRES_USER"),
		Password: e.required("WORKSPACE_POSTGRES_PASSWORD"),
		DB:       e.required("WORKSPACE_POSTGRES_DB"),
		SSLMode: e.oneOf("WORKSPACE_POSTGRES_SSL_MODE", "disable", // libpq's sslmode values
			"disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
		SSLCA: e.file("WORKSPACE_POSTGRES_SSL_CA", false),
	}
	e.oneOf("WORKSPACE_POSTGRES_SSL_ENABLED", "false", "true", "false")
	return p
}

// redis reads the REDIS_* block; the cache is optional for CARTO, but when
// its host is set the rest must make sense.
func (e *env) redis() {
	if e.optional("REDIS_HOST") == "" {
		return
	}
	e.port("REDIS_PORT")
	e.oneOf("REDIS_TLS_ENABLED", "false", "true", "false")
	e.file("REDIS_TLS_CA", false)
}

// err returns the collected problems as one error, or nil.
func (e *env) err() error {
	if len(e.problems) == 0 {
		return nil
	}
	return fmt.Errorf("configuration: %s", strings.Join(e.problems, "; "))
}
