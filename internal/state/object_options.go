package state

import (
	"encoding/json"
	"fmt"
	"maps"
)

// ObjectOptions are the S3 properties an upload's object is created with, beyond its content
// type and metadata. Secrets are never stored: an SSE-C key is named (SSECKey), and only the
// workers can read it (their --sse-c-key-dir).
type ObjectOptions struct {
	// SSE is "", "AES256" (SSE-S3), "aws:kms" (SSE-KMS) or "SSE-C".
	SSE string `json:"sse,omitempty"`
	// SSEKMSKeyID is the KMS key of SSE-KMS; empty: the account's default key.
	SSEKMSKeyID string `json:"sse_kms_key_id,omitempty"`
	// SSECKey names the workers' file holding the SSE-C key; never the key itself.
	SSECKey            string            `json:"sse_c_key,omitempty"`
	StorageClass       string            `json:"storage_class,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	CacheControl       string            `json:"cache_control,omitempty"`
	ContentEncoding    string            `json:"content_encoding,omitempty"`
	ContentDisposition string            `json:"content_disposition,omitempty"`
}

// IsZero reports whether no option is set.
func (o ObjectOptions) IsZero() bool {
	return o.SSE == "" && o.SSEKMSKeyID == "" && o.SSECKey == "" && o.StorageClass == "" && len(o.Tags) == 0 &&
		o.CacheControl == "" && o.ContentEncoding == "" && o.ContentDisposition == ""
}

// Merge returns o with every option that over sets replaced by over's (an item's options
// over a migration's defaults). Setting SSE replaces the whole encryption setting, and Tags
// replace the tags as a whole.
func (o ObjectOptions) Merge(over ObjectOptions) ObjectOptions {
	if over.SSE != "" {
		o.SSE, o.SSEKMSKeyID, o.SSECKey = over.SSE, over.SSEKMSKeyID, over.SSECKey
	}
	if over.Tags != nil {
		o.Tags = maps.Clone(over.Tags)
	}
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&o.StorageClass, over.StorageClass}, {&o.CacheControl, over.CacheControl},
		{&o.ContentEncoding, over.ContentEncoding}, {&o.ContentDisposition, over.ContentDisposition},
	} {
		if f.src != "" {
			*f.dst = f.src
		}
	}
	return o
}

// encodeObjectOptions is the record field's value: "" for none, else JSON.
func encodeObjectOptions(o ObjectOptions) (string, error) {
	if o.IsZero() {
		return "", nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("state: object options: %w", err)
	}
	return string(b), nil
}

func decodeObjectOptions(s string) (ObjectOptions, error) {
	var o ObjectOptions
	if s == "" {
		return o, nil
	}
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return o, fmt.Errorf("state: object options: %w", err)
	}
	return o, nil
}
