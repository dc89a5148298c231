// Package s3test runs an in-process S3 endpoint for tests: gofakes3 stores
// the buckets and objects, and a front written here adds what gofakes3
// lacks: SigV4 verification against one access key, bucket CORS
// configuration (PutBucketCors, GetBucketCors, DeleteBucketCors, and
// preflight answers from the stored rules), and anonymous reads of buckets
// marked public. A small signed client sets CORS through the S3 API, as an
// admin does with the aws command. It is test code: the product never
// imports it.
package s3test
