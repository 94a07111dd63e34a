package storage

import (
	"errors"
	"fmt"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

// Validate checks the options an object is to be created with, naming the bad one.
func (o ObjectOptions) Validate() error {
	if _, err := sseFor(o.SSE); err != nil {
		return err
	}
	if len(o.Tags) > 10 {
		return fmt.Errorf("storage: %d tags, S3 allows at most 10", len(o.Tags))
	}
	for k, v := range o.Tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return fmt.Errorf("storage: tag %q: keys must be 1 to 128 characters and values at most 256", k)
		}
	}
	return nil
}

// putOptions are minio-go's options for creating an object with opts.
func putOptions(opts ObjectOptions) (minio.PutObjectOptions, error) {
	sse, err := sseFor(opts.SSE)
	if err != nil {
		return minio.PutObjectOptions{}, err
	}
	return minio.PutObjectOptions{
		ContentType:          opts.ContentType,
		UserMetadata:         opts.Metadata,
		ContentEncoding:      opts.ContentEncoding,
		ContentDisposition:   opts.ContentDisposition,
		CacheControl:         opts.CacheControl,
		StorageClass:         opts.StorageClass,
		UserTags:             opts.Tags,
		ServerSideEncryption: sse,
		DisableContentSha256: true,
	}, nil
}

// sseFor turns an SSE setting into minio-go's; nil for none.
func sseFor(s SSE) (encrypt.ServerSide, error) {
	switch s.Type {
	case "":
		if s.KMSKeyID != "" || len(s.CustomerKey) > 0 {
			return nil, errors.New("storage: SSE: a KMS key ID or customer key without an SSE type")
		}
		return nil, nil
	case SSES3:
		return encrypt.NewSSE(), nil
	case SSEKMS:
		sse, err := encrypt.NewSSEKMS(s.KMSKeyID, nil)
		if err != nil {
			return nil, fmt.Errorf("storage: SSE-KMS: %w", err)
		}
		return sse, nil
	case SSEC:
		if len(s.CustomerKey) != 32 {
			// Never show the key, not even its length's worth of bytes.
			return nil, fmt.Errorf("storage: SSE-C: the customer key must be 32 bytes, got %d", len(s.CustomerKey))
		}
		sse, err := encrypt.NewSSEC(s.CustomerKey)
		if err != nil {
			return nil, errors.New("storage: SSE-C: invalid customer key")
		}
		return sse, nil
	}
	return nil, fmt.Errorf("storage: SSE type %q: want %s, %s or %s", s.Type, SSES3, SSEKMS, SSEC)
}
