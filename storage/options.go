package storage

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

// Validate checks the options an object is to be created with, naming the bad one. A named
// SSE-C key is checked by name only: the key is read by the client that uses it.
func (o ObjectOptions) Validate() error {
	sse := o.SSE
	if sse.Type == SSEC && len(sse.CustomerKey) == 0 {
		if err := checkKeyName(sse.CustomerKeyName); err != nil {
			return err
		}
		sse.CustomerKey = make([]byte, 32)
	}
	if _, err := sseFor(sse); err != nil {
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
func (m *Minio) putOptions(opts ObjectOptions) (minio.PutObjectOptions, error) {
	sse, err := m.sse(opts.SSE)
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

// sse turns an SSE setting into minio-go's, reading a named SSE-C key from the key directory.
func (m *Minio) sse(s SSE) (encrypt.ServerSide, error) {
	if s.Type == SSEC && len(s.CustomerKey) == 0 && s.CustomerKeyName != "" {
		key, err := m.customerKey(s.CustomerKeyName)
		if err != nil {
			return nil, err
		}
		s.CustomerKey = key
	}
	return sseFor(s)
}

// customerKey reads the SSE-C key file name from Config.SSECKeyDir: 32 raw bytes, or their
// standard base64 (surrounding white space ignored).
func (m *Minio) customerKey(name string) ([]byte, error) {
	if err := checkKeyName(name); err != nil {
		return nil, err
	}
	if m.keyDir == nil {
		return nil, fmt.Errorf("storage: SSE-C key %q: no key directory configured (--sse-c-key-dir): %w", name, ErrNoKey)
	}
	b, err := m.keyDir.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("storage: SSE-C key %q: %w: %w", name, ErrNoKey, err)
	}
	if len(b) == 32 {
		return b, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("storage: SSE-C key %q: %w: want 32 bytes, raw or base64", name, ErrNoKey)
	}
	return key, nil
}

// ErrNoKey: an SSE-C key cannot be read (no key directory, no such file, not 32 bytes).
var ErrNoKey = errors.New("SSE-C key not available")

// checkKeyName accepts a plain file name: no directories, nothing hidden.
func checkKeyName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") || len(name) > 255 {
		return fmt.Errorf("storage: SSE-C key name %q: want a plain file name in the workers' key directory", name)
	}
	return nil
}

// sseFor turns an SSE setting into minio-go's; nil for none.
func sseFor(s SSE) (encrypt.ServerSide, error) {
	switch s.Type {
	case "":
		if s.KMSKeyID != "" || len(s.CustomerKey) > 0 || s.CustomerKeyName != "" {
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
