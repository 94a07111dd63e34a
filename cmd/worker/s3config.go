package main

import (
	"os"

	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/storage"
)

// s3Flags are the worker's S3 endpoint options.
type s3Flags struct {
	bucketLookup *string
	caBundle     *string
	sseCKeyDir   *string
}

func defineS3Flags(fs *cli.Flags) s3Flags {
	return s3Flags{
		bucketLookup: fs.ChoiceEnv("s3-bucket-lookup", "PARTFLOW_S3_BUCKET_LOOKUP", "auto", []string{"auto", "path", "dns"},
			"how buckets are addressed: path (host/bucket/key), dns (virtual-hosted, bucket.host/key) or auto (dns for AWS and other known clouds, path elsewhere)"),
		caBundle: fs.StringEnv("s3-ca-bundle", "PARTFLOW_S3_CA_BUNDLE", "",
			"PEM file of CA certificates to trust for an https S3 endpoint (and STS), besides the system's"),
		sseCKeyDir: fs.StringEnv("sse-c-key-dir", "PARTFLOW_SSE_C_KEY_DIR", "",
			"directory of SSE-C key files (32 bytes, raw or base64) that uploads name with --sse-c-key; mount it from a Secret"),
	}
}

// config is the storage configuration of the worker. Credentials come from minio-go's chain
// (storage.Config): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the shared
// credentials files with AWS_PROFILE; a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE,
// AWS_ROLE_ARN, with AWS_ENDPOINT_URL_STS if set); ECS/EKS container credentials; instance
// metadata.
func (f s3Flags) config(endpoint string) storage.Config {
	cfg := storage.Config{
		Endpoint:     endpoint,
		Region:       os.Getenv("AWS_REGION"),
		BucketLookup: *f.bucketLookup,
		CABundle:     *f.caBundle,
		SSECKeyDir:   *f.sseCKeyDir,
	}
	// Keys in the environment come first, as in the chain; without them the chain looks further.
	if ak, sk := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); ak != "" && sk != "" {
		cfg.AccessKey, cfg.SecretKey, cfg.SessionToken = ak, sk, os.Getenv("AWS_SESSION_TOKEN")
	}
	if os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" {
		cfg.STSEndpoint = os.Getenv("AWS_ENDPOINT_URL_STS")
	}
	return cfg
}
