// Package buckets checks the customer's own object storage for CARTO: it
// validates bucket names and credentials for Google Cloud Storage, Amazon S3
// (or an S3-compatible store) and Azure Blob, writes, reads, lists and deletes
// a test object, and compares each bucket's CORS rules with what CARTO needs.
// It talks to the providers' REST APIs over net/http instead of their SDKs,
// which would add tens of modules to a single static binary: GCS tokens use a
// hand-signed service-account JWT, Azure uses SharedKey, and S3 borrows only
// the SigV4 signer of github.com/aws/aws-sdk-go-v2 (one module plus
// smithy-go) because request signing is where hand-written code goes wrong.
// It never writes files, never changes a bucket's configuration, and never
// puts a secret in a result.
package buckets
