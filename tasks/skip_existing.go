package tasks

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// skipReadSize is how much of a source skipExisting reads at a time to hash it.
const skipReadSize = 1 << 20

// skipExisting completes an upload that asked for it (migrate --skip-existing) without
// uploading when its object already exists with the same content, as far as S3 lets us know:
//
//   - the sizes must match;
//   - when the source fits in one part and the object's ETag is a plain MD5 (a single PUT
//     without SSE-C/KMS), the source's MD5 must match it too. A multipart ETag (md5-of-MD5s
//     "-N") depends on the part size the object was uploaded with, which S3 does not tell, and
//     hashing a large source in the start task would cost as much reading as uploading it, so
//     for those objects the size alone decides.
//
// It reports whether the upload was completed as skipped (or someone else moved it first);
// a non-nil error is what the handler returns.
func (h *Handlers) skipExisting(ctx context.Context, j job, info source.Info, plan state.Plan) (bool, error) {
	opts, err := h.objectOptions(j)
	if err != nil {
		return false, h.fail(ctx, j, err, false)
	}
	obj, err := h.s3.StatObject(ctx, j.object(), opts)
	if errors.Is(err, storage.ErrNoSuchKey) {
		return false, nil
	}
	if err != nil {
		return false, h.s3Error(ctx, j, fmt.Errorf("check for an existing object: %w", err))
	}
	if obj.Size != info.Size {
		j.log.Info("ExistingObjectDiffers", "size", info.Size, "existing_size", obj.Size)
		return false, nil
	}
	compared := "size"
	if info.Size <= plan.PartSize && isMD5(obj.ETag) {
		sum, err := h.sourceMD5(ctx, j, info)
		if err != nil {
			return false, err
		}
		if sum != obj.ETag {
			j.log.Info("ExistingObjectDiffers", "md5", sum, "existing_etag", obj.ETag)
			return false, nil
		}
		compared = "size+md5"
	}
	out, err := h.store.CompleteSkipped(ctx, j.u.ID, j.u.Version, plan, obj.ETag)
	if err != nil {
		return false, err
	}
	if out.Result != state.OK {
		j.log.Info("StartLost", "result", out.Result, "state", out.State)
		return true, nil
	}
	j.log.Info("UploadSkipped", "size", info.Size, "etag", obj.ETag, "compared", compared)
	return true, nil
}

// sourceMD5 hashes the source as planned, a bounded buffer at a time.
func (h *Handlers) sourceMD5(ctx context.Context, j job, info source.Info) (string, error) {
	hash := md5.New()
	buf := make([]byte, min(info.Size, skipReadSize))
	for off := int64(0); off < info.Size; {
		chunk := buf[:min(int64(len(buf)), info.Size-off)]
		if err := h.sources.ReadAt(ctx, j.u.Source, info, off, chunk); err != nil {
			if source.Permanent(err) {
				return "", h.fail(ctx, j, err, false)
			}
			return "", h.retryOrGiveUp(ctx, j, err)
		}
		hash.Write(chunk)
		off += int64(len(chunk))
	}
	return hex.EncodeToString(hash.Sum(nil)), nil
}

// isMD5 reports whether a normalized ETag is a plain hex MD5 (not a multipart "…-N" ETag).
func isMD5(etag string) bool {
	if len(etag) != 2*md5.Size {
		return false
	}
	_, err := hex.DecodeString(etag)
	return err == nil
}
