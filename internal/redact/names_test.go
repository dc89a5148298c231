package redact

import "testing"

func TestSecretName(t *testing.T) {
	secret := []string{
		// CARTO's customer.env and .env
		"POSTGRES_PASSWORD", "POSTGRES_ADMIN_PASSWORD", "WORKSPACE_POSTGRES_PASSWORD", "REDIS_PASSWORD",
		"AT_TOKENLESS_RESOLVER_AUTH_PASSWORD", "AT_TOKENLESS_DEFAULT_TOKEN", "BIGQUERY_OAUTH2_CLIENT_SECRET",
		"ENCRYPTION_SECRET_KEY", "VARNISH_PURGE_SECRET", "WORKSPACE_JWT_SECRET", "LAUNCHDARKLY_SDK_KEY",
		"GOOGLE_MAPS_API_KEY", "REACT_APP_GOOGLE_MAPS_API_KEY", "EXPORTS_S3_BUCKET_SECRET_ACCESS_KEY",
		"IMPORT_AWS_SECRET_ACCESS_KEY", "IMPORT_SECRETACCESSKEY", "WORKSPACE_IMPORTS_SECRETACCESSKEY",
		"IMPORT_STORAGE_ACCESSKEY", "WORKSPACE_THUMBNAILS_STORAGE_ACCESSKEY",
		// the leaks of issue 20 and other spellings
		"DB_PASSWD", "MYSQL_PASSWD", "PGPASSWORD", "DBPASS", "REDIS_PASS", "DB_PWD", "ADMIN_CREDENTIAL",
		"SERVICE_CREDENTIALS", "AWS_CREDS", "PRIVATE_KEY", "private_key", "SSH_PRIVATE", "REDIS_AUTH",
		"Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "apiKey", "api_key", "accessToken",
		"ACCESSTOKEN", "refresh_token", "id_token", "passphrase", "password", "Password", "secret", "token",
		"key", "keys", "KEY", "adminPassword", "S3SecretAccessKey", "AzureAccessKey", "GCSKeyJSON", "KeyPEM",
		"key_pem", "key_json", "acme_account_key", "s3_secret_access_key", "db.password", "--db-password",
		"SIGNING_KEY", "MASTERKEY", "PASSKEY", "WEBHOOK_SECRET_VALUE", "TOKENS",
	}
	public := []string{
		// image references and other names with KEY inside a word
		"VALKEY_DOCKER_IMAGE", "VALKEY_SENTINEL_DOCKER_IMAGE", "VALKEY_HOST", "VALKEY", "REDIS_DOCKER_IMAGE",
		"ACCOUNTS_MIGRATIONS_DOCKER_IMAGE", "HOTKEY", "MONKEY_PATCH", "WHISKEY",
		// names that locate or describe a secret
		"ROUTER_SSL_CERTIFICATE_KEY_PATH", "ROUTER_SSL_CERTIFICATE_PATH", "IMPORT_KEYFILENAME", "KEYFILENAME",
		"WORKSPACE_IMPORTS_KEYFILENAME", "EXPORTS_GCS_CREDENTIALS_KEY_FILENAME", "GOOGLE_APPLICATION_CREDENTIALS",
		"IMPORT_ACCESSKEYID", "WORKSPACE_IMPORTS_ACCESSKEYID", "EXPORTS_S3_BUCKET_ACCESS_KEY_ID",
		"IMPORT_AWS_ACCESS_KEY_ID", "S3AccessKeyID", "s3_access_key_id", "private_key_id", "KEY_ID",
		"SECRET_NAME", "TOKEN_URL", "PASSWORD_FILE", "PGPASSFILE", "KEY_DIR", "AT_TOKENLESS_RESOLVER_AUTH_USER",
		"AUTH_ENABLED", "AUTH_TYPE", "PASSWORD_MIN_LENGTH", "KEY_FINGERPRINT", "PUBLIC_KEY", "publicKey",
		"TOKEN_HOST", "SECRETS_DIR",
		// names without a secret word
		"AT_TOKENLESS_ENABLED", "TOKENLESS", "AUTH0_DOMAIN", "CARTO_AUTH0_CLIENT_ID", "BIGQUERY_OAUTH2_CLIENT_ID",
		"NODE_TLS_REJECT_UNAUTHORIZED", "STORAGE_ACCOUNT", "IMPORT_STORAGE_ACCOUNT", "AzureStorageAccount",
		"SELFHOSTED_DOMAIN", "BYPASS_PROXY", "COMPASS", "PASSENGER", "KEYBOARD", "PWD", "OLDPWD", "PATH",
		"client_email", "type", "level", "msg", "https", "CA_PEM", "cert_pem", "ServiceAccount", "",
	}
	for _, n := range secret {
		if !SecretName(n) {
			t.Errorf("SecretName(%q) = false, want true", n)
		}
	}
	for _, n := range public {
		if SecretName(n) {
			t.Errorf("SecretName(%q) = true, want false", n)
		}
	}
}

func TestAssignmentForms(t *testing.T) {
	r := New(nil)
	tests := []struct{ in, want string }{
		// whole-line assignments, active and commented, every quoting
		{"POSTGRES_PASSWORD=hunter2", "POSTGRES_PASSWORD=****"},
		{"POSTGRES_PASSWORD='hunter 2'", "POSTGRES_PASSWORD=****"},
		{`POSTGRES_PASSWORD="a\"b"  `, "POSTGRES_PASSWORD=****  "},
		{"# REDIS_PASSWORD=commented", "# REDIS_PASSWORD=****"},
		{"export DB_PASSWD=/starts/with/slash", "export DB_PASSWD=****"},
		{"DB_PASSWD=./dot", "DB_PASSWD=****"},
		{"DB_PASSWD=../dotdot", "DB_PASSWD=****"},
		{"DB_PASSWD=x", "DB_PASSWD=****"},
		{"POSTGRES_PASSWORD: hunter2", "POSTGRES_PASSWORD: ****"},
		{"      POSTGRES_PASSWORD: hunter2 ", "      POSTGRES_PASSWORD: **** "},
		{"  - REDIS_PASSWORD=abc", "  - REDIS_PASSWORD=****"},
		{"password: 'x y'", "password: ****"},
		{`"password": hunter2`, `"password": ****`},
		{"Authorization: Bearer abc.def", "Authorization: ****"},
		{"SECRET_KEY=value\r", "SECRET_KEY=****\r"},
		// inside a line
		{"level=info token=abc123 msg=ok", "level=info token=**** msg=ok"},
		{`connect password="a b c" host=x`, "connect password=**** host=x"},
		{"GET /cb?access_token=abc&x=1 200", "GET /cb?access_token=**** 200"},
		{"run --db-password=s3 --verbose", "run --db-password=**** --verbose"},
		{"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc==;EndpointSuffix=core", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=****"},
		{`{"level":"info","password":"hunter2","user":"bob"}`, `{"level":"info","password":"****","user":"bob"}`},
		{`{"private_key": "-----BEGIN X-----\nabc", "type": "sa"}`, `{"private_key": "****", "type": "sa"}`},
		{`{"secret": "a\"b\\", "n": 1}`, `{"secret": "****", "n": 1}`},
		{`{'token': 'abc'}`, `{'token': '****'}`},
		{`cfg{apiKey: "abc"}`, `cfg{apiKey: "****"}`},
		// left alone
		{"ROUTER_SSL_CERTIFICATE_KEY_PATH=/etc/nginx/ssl/carto-router.key", "ROUTER_SSL_CERTIFICATE_KEY_PATH=/etc/nginx/ssl/carto-router.key"},
		{"VALKEY_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/valkey:2026.1", "VALKEY_DOCKER_IMAGE=gcr.io/carto-onprem-artifacts/valkey:2026.1"},
		{"image: gcr.io/carto-onprem-artifacts/workspace-api:2026.1.1", "image: gcr.io/carto-onprem-artifacts/workspace-api:2026.1.1"},
		{"POSTGRES_PASSWORD=", "POSTGRES_PASSWORD="},
		{"POSTGRES_PASSWORD=<FILL_ME>", "POSTGRES_PASSWORD=<FILL_ME>"},
		{`        "secret": true,`, `        "secret": true,`},
		{`        "secret": false`, `        "secret": false`},
		{`  "token": null,`, `  "token": null,`},
		{`        "secret": "true-ish",`, `        "secret": ****`},
		{"POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}", "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}"},
		{"DB_PASSWD='$N'", "DB_PASSWD=****"},
		{"DB_PASSWD=$N", "DB_PASSWD=****"},
		{"DB_PASSWD='${N}'", "DB_PASSWD=****"},
		{"POSTGRES_PASSWORD=****", "POSTGRES_PASSWORD=****"},
		{"if key == value { return }", "if key == value { return }"},
		{"the token: expired", "the token: expired"},
		{"https://carto.example.com/key:1", "https://carto.example.com/key:1"},
		{`{"secret": true, "key": 3}`, `{"secret": true, "key": 3}`},
		{"AT_TOKENLESS_ENABLED=false", "AT_TOKENLESS_ENABLED=false"},
	}
	for _, tt := range tests {
		if got := r.MaskString(tt.in); got != tt.want {
			t.Errorf("MaskString(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}
