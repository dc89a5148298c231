package buckets

import "strconv"

// EnvVars returns the customer.env keys for cfg, following the "safest
// approach" of carto-facts 3.5: the WORKSPACE_THUMBNAILS_* and
// WORKSPACE_IMPORTS_* sets, plus IMPORT_PROVIDER and the IMPORT_* credentials
// with the same values. IMPORT_BUCKET is left out, as CARTO's Helm chart
// does, because it names the legacy third bucket. keyFilePathInContainer is
// where the GCS key will be mounted (e.g. /usr/src/certs/key.json); it is
// ignored for the other providers. An unknown provider yields no keys.
func EnvVars(cfg Config, keyFilePathInContainer string) map[string]string {
	var provider string
	creds := map[string]string{}
	switch cfg.Provider {
	case ProviderGCS:
		provider = "gcp"
		project := cfg.GCS.ProjectID
		if project == "" {
			sa, _, _ := parseServiceAccount(cfg.GCS.KeyJSON)
			project = sa.ProjectID
		}
		creds["KEYFILENAME"] = keyFilePathInContainer
		creds["PROJECTID"] = project
	case ProviderS3:
		provider = "s3"
		region := cfg.S3.Region
		if region == "" {
			region = "us-east-1"
		}
		creds["ACCESSKEYID"] = cfg.S3.AccessKeyID
		creds["SECRETACCESSKEY"] = cfg.S3.SecretAccessKey
		creds["REGION"] = region
		if cfg.S3.Endpoint != "" {
			// The Helm chart's names (carto-facts 3.5, Docker support
			// unverified). The browser reaches the same endpoint.
			creds["ENDPOINT"] = cfg.S3.Endpoint
			creds["EXTERNAL_URL"] = cfg.S3.Endpoint
			creds["FORCE_PATH_STYLE"] = strconv.FormatBool(cfg.S3.ForcePathStyle)
		}
	case ProviderAzure:
		provider = "azure-blob"
		creds["STORAGE_ACCOUNT"] = cfg.Azure.StorageAccount
		creds["STORAGE_ACCESSKEY"] = cfg.Azure.AccessKey
	default:
		return map[string]string{}
	}
	env := map[string]string{"IMPORT_PROVIDER": provider}
	for _, b := range []struct {
		prefix string
		bucket Bucket
	}{
		{"WORKSPACE_THUMBNAILS_", cfg.Thumbnails},
		{"WORKSPACE_IMPORTS_", cfg.Imports},
	} {
		env[b.prefix+"PROVIDER"] = provider
		env[b.prefix+"BUCKET"] = b.bucket.Name
		env[b.prefix+"PUBLIC"] = strconv.FormatBool(b.bucket.Public)
		for k, v := range creds {
			env[b.prefix+k] = v
		}
	}
	for k, v := range creds {
		env["IMPORT_"+k] = v
	}
	return env
}
