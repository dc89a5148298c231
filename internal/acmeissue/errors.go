package acmeissue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
)

// Kind says why issuance failed, so the wizard can show a message that helps.
type Kind int

// The kinds of failure Obtain reports.
const (
	// KindOther is any failure not listed below; its details are for the log.
	KindOther Kind = iota
	// KindUnreachable means the certificate authority's directory (or a later
	// request to it) could not be reached.
	KindUnreachable
	// KindTermsNotAccepted means the admin has not accepted the certificate
	// authority's terms of service, or the CA asks them to accept new ones.
	KindTermsNotAccepted
	// KindChallengeFailed means the CA could not validate the domain: it did
	// not resolve, or http://<domain>/ on port 80 did not answer correctly.
	KindChallengeFailed
	// KindRateLimited means the CA refused because of a rate limit.
	KindRateLimited
	// KindRejected means the CA refuses to issue for this domain (policy,
	// CAA record or malformed name).
	KindRejected
)

// String returns a short name for the kind, for logs.
func (k Kind) String() string {
	switch k {
	case KindUnreachable:
		return "unreachable"
	case KindTermsNotAccepted:
		return "terms not accepted"
	case KindChallengeFailed:
		return "challenge failed"
	case KindRateLimited:
		return "rate limited"
	case KindRejected:
		return "rejected"
	}
	return "other"
}

// IssueError is a classified issuance failure. Error() carries the raw
// details for the log; Message is what the wizard shows the admin.
type IssueError struct {
	Kind   Kind
	Domain string
	// Server is the certificate authority's host, for KindUnreachable.
	Server string
	// RetryAfter is how long the CA asked to wait, for KindRateLimited; zero
	// when it did not say.
	RetryAfter time.Duration
	Err        error
}

// Error returns the failure with the CA's raw answer, for the log only.
func (e *IssueError) Error() string {
	return fmt.Sprintf("acmeissue: %s: %v", e.Kind, e.Err)
}

// Unwrap returns the underlying error, so errors.Is and errors.As see it.
func (e *IssueError) Unwrap() error { return e.Err }

// Message returns a sentence safe to show the admin: it names the problem and
// what to do, and never includes the CA's raw response.
func (e *IssueError) Message() string {
	switch e.Kind {
	case KindUnreachable:
		return fmt.Sprintf("The certificate authority (%s) could not be reached. Check that this machine can make outbound HTTPS connections to it.", e.Server)
	case KindTermsNotAccepted:
		return "The certificate authority's terms of service must be accepted before a certificate can be obtained."
	case KindChallengeFailed:
		return fmt.Sprintf("The certificate authority could not verify %s: the domain must resolve to this machine and port 80 must be reachable from the internet.", e.Domain)
	case KindRateLimited:
		if e.RetryAfter > 0 {
			return fmt.Sprintf("The certificate authority's rate limit was reached; try again in %s, or use a certificate you upload.", e.RetryAfter.Round(time.Minute))
		}
		return "The certificate authority's rate limit was reached; try again later, or use a certificate you upload."
	case KindRejected:
		return fmt.Sprintf("The certificate authority refuses to issue a certificate for %s (its policy or a CAA DNS record forbids it).", e.Domain)
	}
	return "The certificate could not be obtained; the wizard's log has the details."
}

// stage is the part of issuance an error came from; the same transport error
// means "unreachable" when fetching the directory but may mean a failed
// challenge while waiting for validation.
type stage int

const (
	stageDirectory stage = iota
	stageAccount
	stageOrder
	stageChallenge
	stageFinalize
)

// classify wraps err in an *IssueError with the kind the ACME problem or the stage
// implies.
func classify(st stage, cfg Config, server string, err error) *IssueError {
	e := &IssueError{Kind: KindOther, Domain: cfg.Domain, Server: server, Err: err}
	if prob := problem(err); prob != nil {
		e.Kind = problemKind(prob.ProblemType, st)
		if e.Kind == KindRateLimited {
			e.RetryAfter, _ = acme.RateLimit(prob)
		}
		if e.Kind == KindOther && st == stageDirectory {
			// An error page instead of a directory is as good as no answer.
			e.Kind = KindUnreachable
		}
		return e
	}
	switch {
	case st == stageDirectory:
		e.Kind = KindUnreachable
	case st == stageChallenge && errors.Is(err, context.DeadlineExceeded):
		// The CA never finished validating within our deadline.
		e.Kind = KindChallengeFailed
	case isTransport(err):
		e.Kind = KindUnreachable
	}
	return e
}

// problem digs the first ACME problem document out of err, including the ones
// an authorization or order carries.
func problem(err error) *acme.Error {
	var authzErr *acme.AuthorizationError
	if errors.As(err, &authzErr) {
		for _, sub := range authzErr.Errors {
			if p := problem(sub); p != nil {
				return p
			}
		}
		return &acme.Error{ProblemType: "urn:ietf:params:acme:error:unauthorized", Detail: authzErr.Error()}
	}
	var orderErr *acme.OrderError
	if errors.As(err, &orderErr) && orderErr.Problem != nil {
		return orderErr.Problem
	}
	var acmeErr *acme.Error
	if errors.As(err, &acmeErr) {
		return acmeErr
	}
	return nil
}

func problemKind(typ string, st stage) Kind {
	name := typ[strings.LastIndex(typ, ":")+1:]
	switch strings.ToLower(name) {
	case "ratelimited":
		return KindRateLimited
	case "useractionrequired", "agreementrequired":
		return KindTermsNotAccepted
	case "connection", "dns", "unauthorized", "incorrectresponse", "tls":
		return KindChallengeFailed
	case "caa", "rejectedidentifier", "malformed", "unsupportedidentifier":
		if st == stageOrder || st == stageChallenge {
			return KindRejected
		}
	}
	return KindOther
}

// isTransport reports whether err happened before any ACME answer: the HTTP
// client wraps DNS, connect, TLS and timeout errors in a *url.Error.
func isTransport(err error) bool {
	var urlErr *url.Error
	var netErr net.Error
	return errors.As(err, &urlErr) || errors.As(err, &netErr)
}
