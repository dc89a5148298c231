package buckets

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// The providers Config.Provider accepts.
const (
	ProviderGCS   = "gcs"
	ProviderS3    = "s3"
	ProviderAzure = "azure"
)

// Config is what the buckets step collects: one provider, the two buckets
// CARTO uses, and that provider's credentials. The other providers' sections
// are ignored. Endpoint fields point the checks at a test server (GCS, Azure)
// or at an S3-compatible store (S3).
type Config struct {
	Provider   string
	Imports    Bucket
	Thumbnails Bucket
	GCS        GCS
	S3         S3
	Azure      Azure
}

// Bucket names one bucket (an Azure container) and whether its objects are
// meant to be readable without credentials.
type Bucket struct {
	Name   string
	Public bool
}

// GCS holds a service-account key file and the project it bills to. An empty
// ProjectID falls back to the key's project_id.
type GCS struct {
	ProjectID string
	KeyJSON   []byte
	Endpoint  string
}

// S3 holds an IAM access key. Endpoint is set only for S3-compatible stores;
// ForcePathStyle addresses buckets as a path instead of a host name.
type S3 struct {
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	Endpoint        string
	ForcePathStyle  bool
}

// Azure holds a storage account and one of its access keys.
type Azure struct {
	StorageAccount string
	AccessKey      string
	Endpoint       string
}

// Field names used in Validate's map and in Result.Field.
const (
	FieldProvider   = "provider"
	FieldImports    = "imports_bucket"
	FieldThumbnails = "thumbnails_bucket"
	FieldGCSProject = "gcs_project_id"
	FieldGCSKey     = "gcs_key"
	FieldGCSEndpt   = "gcs_endpoint"
	FieldS3KeyID    = "s3_access_key_id"
	FieldS3Secret   = "s3_secret"
	FieldS3Region   = "s3_region"
	FieldS3Endpoint = "s3_endpoint"
	FieldAzAccount  = "azure_account"
	FieldAzKey      = "azure_key"
	FieldAzEndpoint = "azure_endpoint"
)

var (
	gcsNameChars  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*[a-z0-9]$`)
	s3NameChars   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`)
	azContainer   = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9])*$`)
	azAccount     = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	awsRegion     = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	gcpProject    = regexp.MustCompile(`^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	s3AccessKeyID = regexp.MustCompile(`^[A-Za-z0-9]{3,128}$`)
)

// Validate checks the input without any network call and returns field
// name -> message for every problem, or an empty map. Bucket names are
// checked against the chosen provider's naming rules, because CARTO itself
// accepts any string and the failure would only show at upload time.
func Validate(cfg Config) map[string]string {
	errs := map[string]string{}
	switch cfg.Provider {
	case ProviderGCS, ProviderS3, ProviderAzure:
	default:
		errs[FieldProvider] = "choose gcs, s3 or azure"
		return errs
	}
	for _, b := range []struct {
		field, label, name string
	}{
		{FieldImports, "imports bucket", cfg.Imports.Name},
		{FieldThumbnails, "thumbnails bucket", cfg.Thumbnails.Name},
	} {
		if msg := bucketNameProblem(cfg.Provider, b.name); msg != "" {
			errs[b.field] = b.label + ": " + msg
		}
	}
	switch cfg.Provider {
	case ProviderGCS:
		validateGCS(cfg.GCS, errs)
	case ProviderS3:
		validateS3(cfg.S3, errs)
	case ProviderAzure:
		validateAzure(cfg.Azure, errs)
	}
	return errs
}

// bucketNameProblem returns why provider would reject name, or "".
func bucketNameProblem(provider, name string) string {
	if strings.TrimSpace(name) == "" {
		return "enter a bucket name"
	}
	if name != strings.TrimSpace(name) {
		return "remove the spaces around the name"
	}
	if strings.Contains(name, "://") || strings.HasPrefix(name, "gs:") || strings.HasPrefix(name, "s3:") {
		return "enter the bare bucket name, without gs:// or s3://"
	}
	switch provider {
	case ProviderGCS:
		if len(name) < 3 || len(name) > 222 {
			return "a GCS bucket name has 3 to 63 characters (222 with dots)"
		}
		if !strings.Contains(name, ".") && len(name) > 63 {
			return "a GCS bucket name without dots has at most 63 characters"
		}
		for _, part := range strings.Split(name, ".") {
			if len(part) > 63 {
				return "each dot-separated part of a GCS bucket name has at most 63 characters"
			}
		}
		if !gcsNameChars.MatchString(name) {
			return "use lowercase letters, digits, -, _ and ., starting and ending with a letter or digit"
		}
		if strings.HasPrefix(name, "goog") || strings.Contains(name, "google") || strings.Contains(name, "g00gle") {
			return `GCS rejects names that start with "goog" or contain "google"`
		}
		if net.ParseIP(name) != nil {
			return "a bucket name cannot be an IP address"
		}
	case ProviderS3:
		if len(name) < 3 || len(name) > 63 {
			return "an S3 bucket name has 3 to 63 characters"
		}
		if !s3NameChars.MatchString(name) {
			return "use lowercase letters, digits, - and ., starting and ending with a letter or digit"
		}
		if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
			return "dots cannot be next to another dot or a hyphen"
		}
		if net.ParseIP(name) != nil {
			return "a bucket name cannot be an IP address"
		}
		for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
			if strings.HasPrefix(name, p) {
				return fmt.Sprintf("S3 rejects names starting with %q", p)
			}
		}
		for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
			if strings.HasSuffix(name, s) {
				return fmt.Sprintf("S3 rejects names ending with %q", s)
			}
		}
	case ProviderAzure:
		if len(name) < 3 || len(name) > 63 {
			return "an Azure container name has 3 to 63 characters"
		}
		if !azContainer.MatchString(name) {
			return "use lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
		}
	}
	return ""
}

// serviceAccount is the part of a Google service-account key file we use.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// parseServiceAccount decodes a key file and its RSA key. Its errors are safe
// to show: they never quote the file.
func parseServiceAccount(data []byte) (serviceAccount, *rsa.PrivateKey, error) {
	var sa serviceAccount
	if len(data) == 0 {
		return sa, nil, errors.New("upload the service account's JSON key file")
	}
	if err := json.Unmarshal(data, &sa); err != nil {
		return sa, nil, errors.New("the key file is not JSON; download a JSON key for the service account")
	}
	if sa.Type != "service_account" {
		return sa, nil, fmt.Errorf("the key file has type %q; a service account key has type \"service_account\"", sa.Type)
	}
	if sa.ClientEmail == "" || sa.PrivateKey == "" {
		return sa, nil, errors.New("the key file lacks client_email or private_key; download a new JSON key")
	}
	if sa.TokenURI == "" {
		sa.TokenURI = "https://oauth2.googleapis.com/token"
	}
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	if block == nil {
		return sa, nil, errors.New("the key file's private_key is not PEM; download a new JSON key")
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return sa, nil, errors.New("the key file's private_key is not an RSA key")
		}
		key = rk
	} else if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		key = k
	} else {
		return sa, nil, errors.New("the key file's private_key cannot be parsed; download a new JSON key")
	}
	return sa, key, nil
}

func validateGCS(g GCS, errs map[string]string) {
	sa, _, err := parseServiceAccount(g.KeyJSON)
	if err != nil {
		errs[FieldGCSKey] = err.Error()
	} else if u, uerr := url.Parse(sa.TokenURI); uerr != nil || (u.Scheme != "https" && g.Endpoint == "") {
		errs[FieldGCSKey] = "the key file's token_uri must be an https URL"
	}
	project := g.ProjectID
	if project == "" {
		project = sa.ProjectID
	}
	switch {
	case project == "" && err == nil:
		errs[FieldGCSProject] = "enter the project ID (the key file names none)"
	case project != "" && !gcpProject.MatchString(project):
		errs[FieldGCSProject] = "a project ID has 6 to 30 lowercase letters, digits and hyphens, starting with a letter"
	}
	if msg := endpointProblem(g.Endpoint); msg != "" {
		errs[FieldGCSEndpt] = msg
	}
}

func validateS3(s S3, errs map[string]string) {
	id := s.AccessKeyID
	switch {
	case strings.TrimSpace(id) == "":
		errs[FieldS3KeyID] = "enter the access key ID"
	case !s3AccessKeyID.MatchString(id):
		errs[FieldS3KeyID] = "an access key ID has only letters and digits (AWS: 20 characters starting with AKIA)"
	case strings.HasPrefix(id, "ASIA") && s.Endpoint == "":
		errs[FieldS3KeyID] = "this is a temporary key (ASIA…) that needs a session token, which CARTO cannot use; create an access key for an IAM user (AKIA…)"
	}
	if s.SecretAccessKey == "" {
		errs[FieldS3Secret] = "enter the secret access key"
	} else if strings.ContainsAny(s.SecretAccessKey, " \t\r\n") {
		errs[FieldS3Secret] = "the secret access key contains spaces or line breaks; paste it again"
	}
	switch {
	case s.Region == "" && s.Endpoint == "":
		errs[FieldS3Region] = "enter the bucket region, e.g. eu-west-1"
	case s.Region != "" && s.Endpoint == "" && !awsRegion.MatchString(s.Region):
		errs[FieldS3Region] = "an AWS region looks like eu-west-1 or us-east-1"
	}
	if msg := endpointProblem(s.Endpoint); msg != "" {
		errs[FieldS3Endpoint] = msg
	}
}

func validateAzure(a Azure, errs map[string]string) {
	if !azAccount.MatchString(a.StorageAccount) {
		errs[FieldAzAccount] = "a storage account name has 3 to 24 lowercase letters and digits"
	}
	if a.AccessKey == "" {
		errs[FieldAzKey] = "enter one of the storage account's access keys"
	} else if _, err := base64.StdEncoding.DecodeString(a.AccessKey); err != nil {
		errs[FieldAzKey] = "an access key is base64 (it usually ends with ==); copy key1 or key2 from Access keys"
	}
	if msg := endpointProblem(a.Endpoint); msg != "" {
		errs[FieldAzEndpoint] = msg
	}
}

// endpointProblem checks an optional endpoint URL: scheme and host only,
// because the checks append bucket and object paths to it.
func endpointProblem(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "enter a URL such as https://storage.example.com"
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "the endpoint must start with https:// or http://"
	}
	if u.Path != "" && u.Path != "/" {
		return "remove the path from the endpoint; the bucket is added by the checks"
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "the endpoint takes no query, fragment or user name"
	}
	return ""
}
