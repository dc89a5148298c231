package k8sexport

import (
	"fmt"
	"path"
	"strings"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

const valuesHeader = `customizations.yaml: the answers of this carto-setup install that are not
secret, as values of CARTO's Helm chart (carto-selfhosted-helm). Written by
carto-setup export; REPORT.md says where each answer went and what did not
carry over.`

const kotsHeader = `KOTS ConfigValues with the answers of this carto-setup install. It holds
passwords and keys (KOTS takes them inline): keep it owner-only. Written by
carto-setup export; its report says what did not carry over.`

func (b *builder) secretsHeader() string {
	if b.opts.SecretRefs {
		return `customizations.secrets.yaml: references to the Kubernetes Secrets that hold
the secret answers. Create those Secrets first with the kubectl commands in
REPORT.md, then pass this file to helm after customizations.yaml.`
	}
	return `customizations.secrets.yaml: the secret answers of this carto-setup install
(passwords, keys). Keep it owner-only and out of version control; pass it to
helm after customizations.yaml.`
}

// licence names the values that CARTO's licence owns and that carto-setup
// must not carry: they come with CARTO's Kubernetes package.
func (b *builder) licence() {
	tenant := ""
	if t := b.st.Package.Summary.Tenant; t != "" {
		tenant = " for tenant " + code(t)
	}
	b.lose(FlavourBoth, "package",
		"the licence-owned values are not exported: the tenant ID, the Auth0 client, the service account of key.json, "+
			"the encryption key (ENCRYPTION_SECRET_KEY) and the JWT secret come from CARTO's Kubernetes package "+
			"(carto-values.yaml and carto-secrets.yaml for Helm, the licence for KOTS). Ask CARTO for a package with "+
			"both flavours%s. Warning: to reuse this install's database, the encryption key must stay the same "+
			"(cartoSecrets.encryptionSecretKey equal to ENCRYPTION_SECRET_KEY of this customer.env); with another key "+
			"the connections stored in the database cannot be read.", tenant)
}

// finishRefs turns the Secrets the SecretRefs mode collected into the files
// the kubectl commands read and the commands themselves.
func (b *builder) finishRefs() {
	if len(b.refs) == 0 {
		return
	}
	b.secretFiles = map[string][]byte{}
	for _, r := range b.refs {
		if r.tls {
			crt := path.Join(secretsDir, r.name+".crt")
			key := path.Join(secretsDir, r.name+".key")
			b.secretFiles[crt] = []byte(r.vals["tls.crt"])
			b.secretFiles[key] = []byte(r.vals["tls.key"])
			b.commands = append(b.commands, fmt.Sprintf("kubectl create secret tls %s --cert=%s --key=%s", r.name, crt, key))
			continue
		}
		cmd := "kubectl create secret generic " + r.name
		for _, k := range r.keys {
			f := path.Join(secretsDir, r.name+"."+k)
			b.secretFiles[f] = []byte(r.vals[k])
			cmd += fmt.Sprintf(" --from-file=%s=%s", k, f)
		}
		b.commands = append(b.commands, cmd)
	}
}

func (b *builder) mappings() []Mapping {
	out := make([]Mapping, len(b.rows))
	for i, r := range b.rows {
		out[i] = *r
	}
	return out
}

// report renders REPORT.md. Everything in it is either fixed text, a name
// (of an answer, a value path, a KOTS item) or a non-secret value in a code
// span; Export checks afterwards that no secret slipped in.
func (b *builder) report(rows []Mapping) []byte {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p("# Export to Kubernetes\n\n")
	p("The answers of the CARTO install at %s, exported for CARTO's Helm chart (carto-selfhosted-helm) and for KOTS.\n\n",
		code(strings.TrimSpace(b.st.Domain.Domain)))

	p("## Files\n\n")
	p("- `%s`: the answers that are not secret. It holds no password or key.\n", ValuesFile)
	if b.opts.SecretRefs {
		p("- `%s`: references to Kubernetes Secrets, no secret value. The values are in `%s/` (owner-only) until you "+
			"have created the Secrets below; delete that directory then.\n", SecretsFile, secretsDir)
	} else {
		p("- `%s`: the secret answers (passwords, keys). Owner-only; keep it out of version control.\n", SecretsFile)
	}
	p("- The KOTS ConfigValues file (`carto-setup export kots`) holds the same answers, secrets included, since KOTS takes " +
		"them inline. Owner-only.\n\n")

	p("## Install\n\n")
	if b.opts.SecretRefs {
		p("Helm: first create the Kubernetes Secrets, from this directory and in the release's namespace (add `--namespace NAMESPACE`):\n\n")
		p("%s\n\n", codeBlock("sh", strings.Join(b.commands, "\n")))
	}
	if b.opts.SecretRefs {
		p("Then install, ")
	} else {
		p("Helm: install ")
	}
	p("with CARTO's Kubernetes package first, so that these files win where both set a value:\n\n")
	p("%s\n\n", codeBlock("sh", "helm install carto carto/carto --namespace NAMESPACE \\\n  -f carto-values.yaml -f carto-secrets.yaml \\\n  -f "+
		ValuesFile+" -f "+SecretsFile))
	p("KOTS: pass the ConfigValues file to the installer with `--config-values FILE` (Embedded Cluster `install`, or " +
		"`kubectl kots install` on an existing cluster). The uploaded certificate is what the router serves when TLS " +
		"terminates in CARTO (Embedded Cluster, or the Custom access mode); with the Default access mode on GKE or EKS " +
		"the load balancer uses a cloud-managed certificate instead.\n\n")
	if b.st.Database.Mode == wizard.ModeExternal {
		p("Stop this install before a Kubernetes install uses the same external database: two installs must not " +
			"run their migrations against one database.\n\n")
	}

	p("## Where each answer went\n\n")
	for _, r := range rows {
		helm, kots := "not exported (see below)", "not exported (see below)"
		if len(r.Helm) > 0 {
			helm = strings.Join(r.Helm, "; ")
		}
		if len(r.KOTS) > 0 {
			kots = strings.Join(r.KOTS, "; ")
		}
		p("- %s: Helm %s. KOTS %s.\n", code(r.Answer), helm, kots)
	}

	p("\n## What does not carry over\n\n")
	for _, l := range b.losses {
		p("- **[%s] %s**: %s\n", l.Flavour, l.Answer, indentContinuation(l.Text))
	}
	return []byte(w.String())
}

// indentContinuation keeps a multi-line loss text (one with a code block)
// inside its list item.
func indentContinuation(s string) string {
	lines := strings.Split(s, "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] != "" {
			lines[i] = "  " + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}
