package tasks

import (
	"github.com/partflow/partflow/storage"
)

// objectOptions are the S3 options of an upload's object, from its record. An SSE-C key is
// only named there; storage reads it from the worker's key directory.
func (h *Handlers) objectOptions(j job) (storage.ObjectOptions, error) {
	o := j.u.Options
	opts := storage.ObjectOptions{
		ContentType:        j.u.ContentType,
		Metadata:           j.u.Metadata,
		ContentEncoding:    o.ContentEncoding,
		ContentDisposition: o.ContentDisposition,
		CacheControl:       o.CacheControl,
		StorageClass:       o.StorageClass,
		Tags:               o.Tags,
		SSE:                storage.SSE{Type: o.SSE, KMSKeyID: o.SSEKMSKeyID, CustomerKeyName: o.SSECKey},
	}
	if err := opts.Validate(); err != nil {
		return storage.ObjectOptions{}, err
	}
	return opts, nil
}
