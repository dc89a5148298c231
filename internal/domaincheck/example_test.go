package domaincheck_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/domaincheck"
)

// Example shows how the Domain step fits the pieces together: validate,
// resolve, serve nonces on port 80, probe from this VM, and combine with what
// the admin's browser did.
func Example() {
	ctx := context.Background()
	domain, problem := domaincheck.Validate(" Carto.Example.com. ")
	if problem != "" {
		fmt.Println(problem) // shown next to the field, with status 422
		return
	}

	local, _ := domaincheck.LocalAddrs()
	results := domaincheck.Resolve(ctx, net.DefaultResolver, domain, local)

	nonces := domaincheck.NewNonces(time.Now, 0)
	var port80 domaincheck.Port80 = domaincheck.DirectPort80{}
	stop, err := port80.Start(ctx, domaincheck.NonceHandler(nonces, nil))
	var le *domaincheck.ListenError
	if errors.As(err, &le) && le.Kind == domaincheck.ListenPermission {
		// Fall back to a Port80 that publishes the port from a container.
		return
	}
	if err != nil {
		return
	}
	defer stop()

	browserNonce := nonces.New() // the page links to or fetches this one
	client := domaincheck.NewProbeClient(&net.Dialer{})
	server := domaincheck.Probe(ctx, client, domain, nonces.New())
	results = append(results, server.Result)

	// Later, when the admin has opened the link (or the page's script ran):
	hits := nonces.Hits(browserNonce)
	browserOK := len(hits) > 0
	results = append(results,
		domaincheck.BrowserResult(domain, hits),
		domaincheck.Combine(server, &browserOK))
	fmt.Println(check.Worst(results))
}
