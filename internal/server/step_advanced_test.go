package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/proxycheck"
	"github.com/carto-setup/carto-setup/internal/steps"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestAdvancedStep walks the Advanced settings page without a script:
// refusals sit next to their field with a 422 and nothing saved, secrets
// are never rendered back and a blank one keeps the saved value, a
// further setting may not take another step's key, and a failed proxy
// check needs a reason to continue.
func TestAdvancedStep(t *testing.T) {
	f := newFixture(t)
	markDone(f, wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database, wizard.TLS, wizard.Buckets)
	var proxies []string
	f.setSteps(func(d *steps.Deps) {
		d.Advanced = steps.AdvancedFunc(func(_ context.Context, c proxycheck.Config) []check.Result {
			proxies = append(proxies, c.HTTPSProxy)
			if strings.Contains(c.HTTPSProxy, "down") {
				return []check.Result{{Step: "advanced", ID: proxycheck.IDProxyConnect, Status: check.Fail, Field: "https_proxy", Message: "This VM cannot connect to the proxy."}}
			}
			return []check.Result{{Step: "advanced", ID: proxycheck.IDProxyConnect, Status: check.Pass, Message: "The proxy accepts connections."}}
		})
	})
	const mapsKey, secretValue = "AIzaSyFixtureKey0123456789abcdef", "s3cr3t-further-value"
	res, doc := f.get(t, "/steps/advanced")
	if res.StatusCode != http.StatusOK || doc.Find("#f-https_proxy").Length() != 1 || doc.Find(`input[name="extra.2.key"]`).Length() != 1 {
		t.Fatalf("GET: %d, form fields missing", res.StatusCode)
	}

	// A proxy with credentials and a row taking the cache's key: refused.
	form := map[string]string{"https_proxy": "http://user:pw@proxy.internal:3128", "google_maps_api_key": mapsKey,
		"extra.0.key": "REDIS_HOST", "extra.0.value": "evil", "extra.1.key": "", "extra.1.value": "", "action": "test"}
	res, doc, html := f.postMultipart(t, "/steps/advanced", form, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find("#e-https_proxy").Text(), "authentication") {
		t.Fatalf("proxy with credentials: %d %q", res.StatusCode, doc.Find("#e-https_proxy").Text())
	}
	if !strings.Contains(doc.Find(`tr[data-row="0"] .error`).Text(), "another step") {
		t.Errorf("the cache's key is not refused next to its row: %q", doc.Find(`tr[data-row="0"]`).Text())
	}
	if strings.Contains(html, mapsKey) || strings.Contains(html, "user:pw") {
		t.Fatal("a secret was rendered back")
	}
	if st, _ := f.deps.Store.Load(); st.Advanced.GoogleMapsAPIKey != "" || len(proxies) != 0 {
		t.Fatal("a refused form was saved or checked")
	}

	// Valid settings, continuing: saved, on to the review.
	form = map[string]string{"https_proxy": "http://proxy.internal:3128", "http_proxy": "http://proxy.internal:3128", "no_proxy": "localhost,.internal",
		"google_maps_api_key": mapsKey, "extra.0.key": "LOG_LEVEL", "extra.0.value": "debug",
		"extra.1.key": "MY_TOKEN", "extra.1.value": secretValue, "extra.1.secret": "on", "extra.2.key": "", "extra.2.value": "", "action": "next"}
	res, _, _ = f.postMultipart(t, "/steps/advanced", form, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/steps/review" {
		t.Fatalf("continue: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
	st, _ := f.deps.Store.Load()
	want := []wizard.AdvancedVar{{Key: "LOG_LEVEL", Value: "debug"}, {Key: "MY_TOKEN", Value: secretValue, Secret: true}}
	if st.Advanced.GoogleMapsAPIKey != mapsKey || len(st.Advanced.Extra) != 2 || st.Advanced.Extra[0] != want[0] || st.Advanced.Extra[1] != want[1] || !st.Done[wizard.Advanced] {
		t.Fatalf("saved %+v", st.Advanced)
	}

	// The page never shows the secrets; blank fields keep them.
	_, doc = f.get(t, "/steps/advanced")
	html, _ = doc.Html()
	if strings.Contains(html, mapsKey) || strings.Contains(html, secretValue) {
		t.Fatal("the page shows a saved secret")
	}
	if doc.Find(`input[name="extra.1.value"][type="password"]`).Length() != 1 {
		t.Error("a secret further setting is not a password field")
	}
	form["google_maps_api_key"], form["extra.1.value"] = "", ""
	form["https_proxy"], form["action"] = "http://down.internal:3128", "next"
	res, doc, _ = f.postMultipart(t, "/steps/advanced", form, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[name="override.advanced.proxy.connect"]`).Length() != 1 {
		t.Fatalf("a failed proxy check without a reason: %d", res.StatusCode)
	}
	// A refused submit saves nothing: the settings, their secrets and the
	// done mark are what the last accepted submit left.
	st, _ = f.deps.Store.Load()
	if st.Advanced.GoogleMapsAPIKey != mapsKey || st.Advanced.Extra[1].Value != secretValue || st.Advanced.HTTPSProxy == "http://down.internal:3128" || !st.Done[wizard.Advanced] {
		t.Fatalf("a refused submit changed the saved settings: %+v, done %v", st.Advanced, st.Done[wizard.Advanced])
	}
	form["override.advanced.proxy.connect"] = "the proxy comes up tomorrow"
	res, _, _ = f.postMultipart(t, "/steps/advanced", form, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("continue with a reason: %d", res.StatusCode)
	}
}

// TestAdvancedHoldsTypedSecrets: a Continue refused for a failed proxy
// check saves nothing, yet the Maps key and the secret further setting
// typed on it are held for the form (never shown, the page says so), and
// the retry with a reason and blank fields saves them.
func TestAdvancedHoldsTypedSecrets(t *testing.T) {
	f := newFixture(t)
	markDone(f, wizard.Preflight, wizard.Package, wizard.Domain, wizard.Database, wizard.TLS, wizard.Buckets)
	f.setSteps(func(d *steps.Deps) {
		d.Advanced = steps.AdvancedFunc(func(context.Context, proxycheck.Config) []check.Result {
			return []check.Result{{Step: "advanced", ID: proxycheck.IDProxyConnect, Status: check.Fail, Field: "https_proxy", Message: "This VM cannot connect to the proxy."}}
		})
	})
	const mapsKey, secretValue = "AIzaSyHeldKey0123456789abcdefgh", "held-further-secret"
	form := map[string]string{"https_proxy": "http://down.internal:3128", "google_maps_api_key": mapsKey,
		"extra.0.key": "MY_TOKEN", "extra.0.value": secretValue, "extra.0.secret": "on", "action": "next"}
	res, doc, html := f.postMultipart(t, "/steps/advanced", form, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[name="override.advanced.proxy.connect"]`).Length() != 1 {
		t.Fatalf("a failed proxy check without a reason: %d", res.StatusCode)
	}
	if strings.Contains(html, mapsKey) || strings.Contains(html, secretValue) {
		t.Fatal("a typed secret was rendered back")
	}
	if st, _ := f.deps.Store.Load(); st.Advanced.GoogleMapsAPIKey != "" || len(st.Advanced.Extra) != 0 {
		t.Fatalf("a refused submit saved %+v", st.Advanced)
	}
	if !strings.Contains(doc.Find("#f-google_maps_api_key").Parent().Text(), "kept for this form") ||
		!strings.Contains(doc.Find(`tr[data-row="0"]`).Text(), "kept for this form") {
		t.Errorf("the page does not say the typed secrets are held: %q", doc.Find("form").Text())
	}
	// The page opened again still holds them.
	_, doc = f.get(t, "/steps/advanced")
	if !strings.Contains(doc.Find("#f-google_maps_api_key").Parent().Text(), "kept for this form") {
		t.Error("the held Maps key is forgotten when the page is opened again")
	}
	form["google_maps_api_key"], form["extra.0.value"] = "", ""
	form["override.advanced.proxy.connect"] = "the proxy comes up tomorrow"
	if res, _, _ = f.postMultipart(t, "/steps/advanced", form, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("continue with a reason: %d", res.StatusCode)
	}
	st, _ := f.deps.Store.Load()
	if st.Advanced.GoogleMapsAPIKey != mapsKey || len(st.Advanced.Extra) != 1 || st.Advanced.Extra[0].Value != secretValue {
		t.Fatalf("the held secrets were not saved: %+v", st.Advanced)
	}
	if held := f.deps.drafts.get(draftKey(&http.Request{Header: http.Header{"Cookie": {SessionCookie + "=" + f.cookie.Value}}}, wizard.Advanced), f.deps.Now()); len(held) != 0 {
		t.Errorf("saved secrets are still held: %d", len(held))
	}
}
