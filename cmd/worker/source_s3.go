package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/s3source"
	"github.com/partflow/partflow/storage"
)

// sourceS3Flags configure the S3 source store: where s3://bucket/key sources are read.
type sourceS3Flags struct {
	endpoint     *string
	region       *string
	bucketLookup *string
	caBundle     *string
	credentials  *string
	copy         *string
	copyTags     *bool
}

func defineSourceS3Flags(fs *cli.Flags) sourceS3Flags {
	return sourceS3Flags{
		endpoint: fs.StringEnv("source-s3-endpoint", "PARTFLOW_SOURCE_S3_ENDPOINT", "",
			"S3 store that s3://bucket/key sources are read from, http://host:port or https://host:port; empty: no S3 sources"),
		region: fs.StringEnv("source-s3-region", "PARTFLOW_SOURCE_S3_REGION", "us-east-1", "region of the S3 source store"),
		bucketLookup: fs.ChoiceEnv("source-s3-bucket-lookup", "PARTFLOW_SOURCE_S3_BUCKET_LOOKUP", "auto", []string{"auto", "path", "dns"},
			"how the source store's buckets are addressed: path, dns or auto"),
		caBundle: fs.StringEnv("source-s3-ca-bundle", "PARTFLOW_SOURCE_S3_CA_BUNDLE", "",
			"PEM file of CA certificates to trust for an https source store, besides the system's"),
		credentials: fs.ChoiceEnv("source-s3-credentials", "PARTFLOW_SOURCE_S3_CREDENTIALS", "own", []string{"own", "destination"},
			"own: the source store's keys from "+s3source.EnvAccessKey+"/"+s3source.EnvSecretKey+" (and "+s3source.EnvSessionToken+
				") or the shared-files profile "+s3source.EnvProfile+"; destination: the destination's credentials, on purpose"),
		copy: fs.ChoiceEnv("source-s3-copy", "PARTFLOW_SOURCE_S3_COPY", "auto", []string{"auto", "always", "never"},
			"server-side copies (UploadPartCopy, CopyObject) of s3:// sources: auto when the source endpoint is the destination's "+
				"and --source-s3-credentials=destination; always (the destination's credentials can read the source buckets); never"),
		copyTags: fs.BoolEnv("source-s3-copy-tags", "PARTFLOW_SOURCE_S3_COPY_TAGS", false,
			"also carry an S3 source's tags over (GetObjectTagging; needs s3:GetObjectTagging); an upload's own tags win"),
	}
}

// sourceStore is the parsed S3 source store configuration; cfg is nil without a store.
type sourceStore struct {
	cfg      *storage.Config
	copy     bool // parts of s3:// sources are copied server-side on the destination
	copyTags bool
}

// config checks the flags and the PARTFLOW_SOURCE_AWS_* variables against the destination's
// storage configuration dst. Errors name the flag or variable.
func (f sourceS3Flags) config(dst storage.Config) (sourceStore, error) {
	anyCreds := s3source.AnyCredentials(os.Getenv)
	if *f.endpoint == "" {
		if anyCreds || *f.copy == "always" || *f.copyTags {
			return sourceStore{}, errors.New("--source-s3-copy=always, --source-s3-copy-tags and the PARTFLOW_SOURCE_AWS_* " +
				"variables need --source-s3-endpoint (PARTFLOW_SOURCE_S3_ENDPOINT)")
		}
		return sourceStore{}, nil
	}
	cfg := storage.Config{Endpoint: *f.endpoint, Region: *f.region, BucketLookup: *f.bucketLookup, CABundle: *f.caBundle}
	if *f.credentials == "own" {
		err := s3source.Credentials(os.Getenv, &cfg)
		if errors.Is(err, s3source.ErrNoCredentials) {
			return sourceStore{}, fmt.Errorf("--source-s3-endpoint (PARTFLOW_SOURCE_S3_ENDPOINT) needs the source store's credentials: "+
				"%s and %s, or %s; or --source-s3-credentials=destination (PARTFLOW_SOURCE_S3_CREDENTIALS) to use the destination's",
				s3source.EnvAccessKey, s3source.EnvSecretKey, s3source.EnvProfile)
		}
		if err != nil {
			return sourceStore{}, err
		}
	} else { // destination, on purpose
		if anyCreds {
			return sourceStore{}, errors.New("--source-s3-credentials=destination (PARTFLOW_SOURCE_S3_CREDENTIALS) " +
				"and the PARTFLOW_SOURCE_AWS_* variables contradict each other")
		}
		cfg.AccessKey, cfg.SecretKey, cfg.SessionToken = dst.AccessKey, dst.SecretKey, dst.SessionToken
		cfg.Profile, cfg.STSEndpoint = dst.Profile, dst.STSEndpoint
	}
	st := sourceStore{cfg: &cfg, copyTags: *f.copyTags}
	switch *f.copy {
	case "always":
		st.copy = true
	case "auto":
		st.copy = *f.credentials == "destination" && sameEndpoint(cfg.Endpoint, dst.Endpoint)
	}
	return st, nil
}

// sameEndpoint reports whether two endpoint URLs name the same server (scheme, host and port,
// the default port spelled or not, host names case-insensitively).
func sameEndpoint(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Hostname(), ub.Hostname()) && port(ua) == port(ub)
}
