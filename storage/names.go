package storage

import (
	"fmt"
	"unicode/utf8"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// MaxKeyLength is the longest object key S3 accepts, in bytes.
const MaxKeyLength = 1024

// ValidateBucket checks a bucket name against S3's naming rules, with an error that says
// which rule was broken (and wraps ErrInvalidBucketName).
func ValidateBucket(bucket string) error {
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return fmt.Errorf("storage: invalid bucket name %q: %w: %w", bucket, ErrInvalidBucketName, err)
	}
	return nil
}

// ValidateObject checks a bucket name and an object key against S3's naming rules, with an
// error that says which rule was broken.
func ValidateObject(obj Object) error {
	if err := ValidateBucket(obj.Bucket); err != nil {
		return err
	}
	switch {
	case obj.Key == "":
		return fmt.Errorf("storage: empty object key")
	case len(obj.Key) > MaxKeyLength:
		return fmt.Errorf("storage: object key is %d bytes, longer than S3's limit of %d", len(obj.Key), MaxKeyLength)
	case !utf8.ValidString(obj.Key):
		return fmt.Errorf("storage: object key %q is not valid UTF-8", obj.Key)
	}
	return nil
}
