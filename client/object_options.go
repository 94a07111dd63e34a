package client

import (
	"errors"
	"fmt"

	"github.com/partflow/partflow/storage"
)

// CheckObjectOptions checks options without touching S3 (an SSE-C key by its name only).
func CheckObjectOptions(o ObjectOptions) error {
	if err := checkObjectOptions(o); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func checkObjectOptions(o ObjectOptions) error {
	switch {
	case o.SSE == storage.SSEC && o.SSECKey == "":
		return errors.New("SSE-C needs the name of a key file (sse_c_key)")
	case o.SSE != storage.SSEC && o.SSECKey != "":
		return errors.New("an SSE-C key name needs SSE-C")
	case o.SSE != storage.SSEKMS && o.SSEKMSKeyID != "":
		return errors.New("a KMS key ID needs SSE aws:kms")
	}
	return storage.ObjectOptions{
		Tags: o.Tags, StorageClass: o.StorageClass,
		SSE: storage.SSE{Type: o.SSE, KMSKeyID: o.SSEKMSKeyID, CustomerKeyName: o.SSECKey},
	}.Validate()
}
