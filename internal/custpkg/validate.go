package custpkg

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/carto-setup/carto-setup/internal/check"
	"github.com/carto-setup/carto-setup/internal/envfile"
	"github.com/carto-setup/carto-setup/internal/installsh"
)

// Step is the check.Result step of every result this package reports.
const Step = "package"

// RequiredVars returns the variables customer.env must define: those the
// compose file or env.tpl use without env.tpl defining them (carto-facts
// §3.0), plus the package version install.sh cannot run without.
func RequiredVars() []string { return slices.Clone(requiredVars) }

var requiredVars = []string{
	"SELFHOSTED_DOMAIN", "SELFHOSTED_TENANT_ID", "SELFHOSTED_GCP_PROJECT_ID",
	"CARTO_AUTH0_CLIENT_ID", "CARTO_AUTH0_CUSTOM_DOMAIN",
	"ACC_DOMAIN", "ACC_GCP_PROJECT_ID", "ACC_GCP_PROJECT_REGION",
	"DO_API_DOMAIN", "DO_ASSETS_DOMAIN",
	"LOCAL_POSTGRES_SCALE", "LOCAL_REDIS_SCALE", "POSTGRES_ADMIN_USER", "POSTGRES_ADMIN_PASSWORD",
	"CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION",
}

// Release is what the package is checked against: the contents of the
// release's VERSION and MIN_VERSION files (an empty MinVersion skips that
// check with an error result).
type Release struct {
	Version    string
	MinVersion string
}

// Summary is what the wizard shows about a package. It holds identifiers
// only, never the private key or any other secret.
type Summary struct {
	TenantID       string // SELFHOSTED_TENANT_ID
	Domain         string // SELFHOSTED_DOMAIN as packaged
	PackageVersion string // CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION
	ReleaseVersion string // the release's VERSION
	MinVersion     string // the release's MIN_VERSION
	ServiceAccount string // client_email in key.json
	KeyProject     string // project_id in key.json
	GCPProject     string // SELFHOSTED_GCP_PROJECT_ID
}

// ValidateZip reads a package zip with FromZip and validates it. A rejected
// zip yields a single failed "package.zip" result.
func ValidateZip(r io.ReaderAt, size int64, rel Release) (Files, []check.Result, Summary) {
	files, err := FromZip(r, size)
	if err != nil {
		return Files{}, []check.Result{rejected("package.zip", err)}, Summary{}
	}
	results, sum := Validate(files, rel)
	return files, append([]check.Result{{Step: Step, ID: "package.zip", Status: check.Pass, Field: FieldZip,
		Measured: "customer.env and key.json", Required: "customer.env and key.json",
		Message: "The zip holds customer.env and key.json."}}, results...), sum
}

// ValidateFiles takes customer.env and key.json uploaded separately and
// validates them.
func ValidateFiles(customerEnv, keyJSON []byte, rel Release) (Files, []check.Result, Summary) {
	files, err := FromFiles(customerEnv, keyJSON)
	if err != nil {
		var e *Error
		id := "package.customer_env"
		if errors.As(err, &e) && e.Field == FieldKeyJSON {
			id = "package.key_json"
		}
		return Files{}, []check.Result{rejected(id, err)}, Summary{}
	}
	results, sum := Validate(files, rel)
	return files, results, sum
}

func rejected(id string, err error) check.Result {
	r := check.Result{Step: Step, ID: id, Status: check.Fail, Field: FieldZip, Message: "The upload could not be read.",
		Hint: "Upload the customer package zip CARTO sent, or its customer.env and key.json."}
	var e *Error
	if errors.As(err, &e) {
		r.Field, r.Message = e.Field, e.Message
	}
	r.Fixed = true
	return r
}

// Validate checks the package files: customer.env parses as Compose reads
// it (after renaming a legacy POSTGRES_PASSWORD as install.sh does), defines
// RequiredVars, and its package version is not below the release's
// MIN_VERSION; key.json is a service-account key with a client_email, a
// project_id and a private key that parses; a key project other than
// SELFHOSTED_GCP_PROJECT_ID is a warning. Results use IDs package.*.
func Validate(files Files, rel Release) ([]check.Result, Summary) {
	sum := Summary{ReleaseVersion: strings.TrimSpace(rel.Version), MinVersion: strings.TrimSpace(rel.MinVersion)}
	var results []check.Result
	results = append(results, checkCustomerEnv(files.CustomerEnv, rel, &sum)...)
	results = append(results, checkKeyJSON(files.KeyJSON, &sum)...)
	if sum.KeyProject != "" && sum.GCPProject != "" {
		r := check.Result{Step: Step, ID: "package.project", Field: FieldKeyJSON, Measured: sum.KeyProject, Required: sum.GCPProject}
		if sum.KeyProject == sum.GCPProject {
			r.Status = check.Pass
			r.Message = "key.json belongs to the package's GCP project " + sum.GCPProject + "."
		} else {
			r.Status = check.Warn
			r.Message = fmt.Sprintf("key.json belongs to project %s, but customer.env names %s (SELFHOSTED_GCP_PROJECT_ID).", sum.KeyProject, sum.GCPProject)
			r.Hint = "Check that key.json and customer.env come from the same package; a custom service account must first be registered with CARTO support."
		}
		results = append(results, r)
	}
	return fixFailures(results), sum
}

func checkCustomerEnv(data []byte, rel Release, sum *Summary) []check.Result {
	res := func(id string) check.Result { return check.Result{Step: Step, ID: id, Field: FieldCustomerEnv} }
	var results []check.Result

	r := res("package.customer_env")
	if msg := encodingProblem(data, "customer.env"); msg != "" {
		r.Status, r.Measured, r.Required = check.Fail, "not UTF-8", "UTF-8 text"
		r.Message = msg
		r.Hint = "Save customer.env as UTF-8 text (the package CARTO sent is UTF-8), or upload the file from CARTO's package unchanged."
		return []check.Result{r}
	}
	renamed := installsh.RenamePostgresPassword(data)
	env, err := envfile.Parse(renamed)
	if err != nil {
		r.Status, r.Measured, r.Required = check.Fail, "does not parse", "a valid env file"
		r.Message = "customer.env cannot be read as Docker Compose reads it: " + strings.TrimPrefix(err.Error(), "envfile: parse: ") + "."
		r.Hint = "Upload the customer.env from CARTO's package unchanged."
		return []check.Result{r}
	}
	r.Status, r.Measured, r.Required = check.Pass, "parses", "a valid env file"
	r.Message = "customer.env parses."
	if !bytes.Equal(renamed, data) {
		r.Message += " It uses the legacy POSTGRES_PASSWORD, which is renamed to POSTGRES_ADMIN_PASSWORD as install.sh does."
	}
	results = append(results, r)
	if f := textFormat(data); f.Status != "" {
		results = append(results, f)
	}

	get := func(k string) string { v, _ := env.Get(k); return v }
	sum.TenantID, sum.Domain = get("SELFHOSTED_TENANT_ID"), get("SELFHOSTED_DOMAIN")
	sum.PackageVersion, sum.GCPProject = get("CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION"), get("SELFHOSTED_GCP_PROJECT_ID")

	var missing []string
	for _, k := range requiredVars {
		if _, ok := env.Get(k); !ok {
			missing = append(missing, k)
		}
	}
	r = res("package.required_vars")
	r.Required = "all of " + strings.Join(requiredVars, ", ")
	if len(missing) > 0 {
		r.Status, r.Measured = check.Fail, "missing "+strings.Join(missing, ", ")
		r.Message = "customer.env lacks " + strings.Join(missing, ", ") + "."
		r.Hint = "Use the customer.env from the latest package CARTO sent; ask CARTO support if it lacks these variables."
	} else {
		r.Status, r.Measured = check.Pass, "all present"
		r.Message = "customer.env defines every variable CARTO requires."
	}
	results = append(results, r)

	r = res("package.min_version")
	switch {
	case sum.PackageVersion == "":
		return results // reported as a missing required variable
	case sum.MinVersion == "":
		r.Status, r.Measured = check.Error, sum.PackageVersion
		r.Message = "The release's MIN_VERSION is unknown, so the package version cannot be compared."
		r.Hint = "Check that the release directory has a MIN_VERSION file."
	default:
		r = installsh.MinVersionCheck(sum.PackageVersion, []byte(sum.MinVersion))
		r.Step, r.ID, r.Field = Step, "package.min_version", FieldCustomerEnv
	}
	return append(results, r)
}

// serviceAccountKey is the part of a GCP service-account key that is
// checked. PrivateKey is parsed and then dropped.
type serviceAccountKey struct {
	Type        string `json:"type"`
	ProjectID   string `json:"project_id"`
	ClientEmail string `json:"client_email"`
	PrivateKey  string `json:"private_key"`
}

func checkKeyJSON(data []byte, sum *Summary) []check.Result {
	r := check.Result{Step: Step, ID: "package.key_json", Field: FieldKeyJSON, Required: "a GCP service-account key"}
	fail := func(measured, msg string) []check.Result {
		r.Status, r.Measured, r.Message = check.Fail, measured, msg
		r.Hint = "Upload the key.json from CARTO's customer package unchanged."
		return []check.Result{r}
	}
	if msg := encodingProblem(data, "key.json"); msg != "" {
		return fail("not UTF-8", msg)
	}
	if bytes.HasPrefix(data, utf8BOM) {
		r.Status, r.Measured, r.Message = check.Fail, "byte order mark", "key.json starts with a byte order mark (BOM), which JSON does not allow: CARTO's services cannot read the key."
		r.Hint = "Save key.json as UTF-8 without a BOM (in Notepad: \"UTF-8\", not \"UTF-8 with BOM\"), or upload the key.json from CARTO's package unchanged."
		return []check.Result{r}
	}
	var key serviceAccountKey
	if err := json.Unmarshal(data, &key); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fail("not JSON", fmt.Sprintf("key.json is not valid JSON (error at byte %d).", se.Offset))
		}
		return fail("not a JSON object", "key.json is not a JSON object with string fields.")
	}
	if key.Type != "service_account" {
		return fail("type "+printable(key.Type), fmt.Sprintf("key.json is not a service-account key (its type is %q, not \"service_account\").", printable(key.Type)))
	}
	if key.ClientEmail == "" {
		return fail("no client_email", "key.json has no client_email.")
	}
	if key.ProjectID == "" {
		return fail("no project_id", "key.json has no project_id.")
	}
	if msg := checkPrivateKey(key.PrivateKey); msg != "" {
		return fail("private key unusable", msg)
	}
	sum.ServiceAccount, sum.KeyProject = key.ClientEmail, key.ProjectID
	r.Status, r.Measured = check.Pass, "service account "+key.ClientEmail
	r.Message = "key.json is a service-account key for " + key.ClientEmail + "."
	return []check.Result{r}
}

// checkPrivateKey returns why the key does not parse, or "".
func checkPrivateKey(p string) string {
	if p == "" {
		return "key.json has no private_key."
	}
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return "The private_key in key.json is not a PEM block."
	}
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		_, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		_, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return fmt.Sprintf("The private_key in key.json is a %q PEM block, not a private key.", printable(block.Type))
	}
	if err != nil {
		return "The private_key in key.json does not parse as a PKCS#8 or PKCS#1 private key."
	}
	return ""
}

var utf8BOM = []byte("\uFEFF")

// encodingProblem returns why a text file of the package is not UTF-8, or
// "". Compose v1 cannot read such a customer.env at all and Compose v2
// passes replacement characters to the containers, so the package check is
// where it is stopped, with the line named.
func encodingProblem(data []byte, name string) string {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return name + " is UTF-16 text (Windows Notepad's \"Unicode\"), not UTF-8."
	}
	var e *envfile.InvalidUTF8Error
	if errors.As(envfile.CheckUTF8(data), &e) {
		return fmt.Sprintf("%s is not valid UTF-8: line %d has a byte that is not UTF-8 (byte %d of the line).", name, e.Line, e.Column)
	}
	return ""
}

// textFormat reports, as a warning, the Windows habits in customer.env
// that Compose v2 tolerates but bash `source` (CARTO's download tool) and
// python-dotenv (Compose v1) do not: CR LF line endings, which leave a CR
// at the end of sourced values, and a byte order mark, which becomes part
// of the first line. It returns a zero Result when there are none.
func textFormat(data []byte) check.Result {
	var found []string
	if bytes.HasPrefix(data, utf8BOM) {
		found = append(found, "starts with a byte order mark (BOM)")
	}
	if envfile.HasCRLF(data) {
		found = append(found, "has Windows line endings (CR LF)")
	}
	if len(found) == 0 {
		return check.Result{}
	}
	return check.Result{Step: Step, ID: "package.text_format", Field: FieldCustomerEnv, Status: check.Warn,
		Measured: strings.Join(found, ", "), Required: "UTF-8 without BOM, LF line endings",
		Message: "customer.env " + strings.Join(found, " and ") + "; they are converted (LF line endings, no BOM) when it is installed, because bash and Compose v1 misread them.",
		Hint:    "Nothing to do; to avoid the conversion, save customer.env with LF line endings and without BOM."}
}
