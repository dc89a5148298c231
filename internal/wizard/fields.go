package wizard

// Form field names that more than one package needs: the steps report
// field errors under them, the pages render inputs with them, and the
// answers file maps them to its own paths. The check packages name their
// own fields (dbcheck.FieldHost, buckets.FieldImports, …).
const (
	FieldZip         = "zip"
	FieldCustomerEnv = "customer_env"
	FieldKeyJSON     = "key_json"
	FieldDomain      = "domain"
	FieldDBMode      = "db_mode"
	FieldCacheMode   = "cache_mode"
	FieldCachePort   = "cache_port"
	FieldTLSMode     = "tls_mode"
	FieldCert        = "cert"
	FieldChain       = "chain"
	FieldKey         = "key"
	FieldACMEEmail   = "acme_email"
	FieldACMETOS     = "acme_tos"
	FieldBucketsMode = "buckets_mode"
)

// CacheFieldPrefix starts the name of every cache field on the database
// page, where the cache's host and port sit beside the database's.
const CacheFieldPrefix = "cache_"
