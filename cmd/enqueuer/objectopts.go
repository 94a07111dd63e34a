package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/partflow/partflow/client"
)

// objectFlags are put's and migrate's object options.
type objectFlags struct {
	sse, kmsKeyID, sseCKey, storageClass, tags, cacheControl, contentEncoding, contentDisposition *string
}

func defineObjectFlags(fs *flag.FlagSet) objectFlags {
	return objectFlags{
		sse:      fs.String("sse", "", "server-side encryption: AES256 (SSE-S3), aws:kms (SSE-KMS) or SSE-C"),
		kmsKeyID: fs.String("sse-kms-key-id", "", "KMS key ID or ARN for --sse aws:kms (default: the account's key)"),
		sseCKey: fs.String("sse-c-key", "",
			"for --sse SSE-C: the name of the key file in the workers' --sse-c-key-dir (only the name is stored)"),
		storageClass: fs.String("storage-class", "", "S3 storage class, e.g. STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR"),
		tags:         fs.String("tags", "", "object tags, k=v,k2=v2"),
		cacheControl: fs.String("cache-control", "", "Cache-Control of the objects"),
		contentEncoding: fs.String("content-encoding", "",
			"Content-Encoding of the objects, e.g. gzip for files stored compressed"),
		contentDisposition: fs.String("content-disposition", "", "Content-Disposition of the objects"),
	}
}

// options returns the flags' object options, checked.
func (f objectFlags) options() (client.ObjectOptions, error) {
	o := client.ObjectOptions{SSE: *f.sse, SSEKMSKeyID: *f.kmsKeyID, SSECKey: *f.sseCKey, StorageClass: *f.storageClass,
		CacheControl: *f.cacheControl, ContentEncoding: *f.contentEncoding, ContentDisposition: *f.contentDisposition}
	if *f.tags != "" {
		o.Tags = map[string]string{}
		for pair := range strings.SplitSeq(*f.tags, ",") {
			k, v, ok := strings.Cut(pair, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return o, fmt.Errorf("--tags: %q is not k=v", pair)
			}
			o.Tags[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := client.CheckObjectOptions(o); err != nil {
		return o, err
	}
	return o, nil
}
