package tasks

import (
	"github.com/partflow/partflow/storage"
)

// objectOptions are the S3 options of an upload's object, from its record.
func (h *Handlers) objectOptions(j job) (storage.ObjectOptions, error) {
	return storage.ObjectOptions{ContentType: j.u.ContentType, Metadata: j.u.Metadata}, nil
}
