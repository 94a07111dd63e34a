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

// FingerprintMetadata is the user metadata key (x-amz-meta-partflow-fingerprint) under which
// every object partflow writes records the fingerprint of the source it was read from.
const FingerprintMetadata = "partflow-fingerprint"

// withFingerprint returns the object's user metadata with the source fingerprint added.
func withFingerprint(meta map[string]string, fingerprint string) map[string]string {
	out := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		out[k] = v
	}
	out[FingerprintMetadata] = fingerprint
	return out
}

// skipExisting completes an upload that asked for it (migrate --skip-existing) without
// uploading when its object already exists with the same content, as far as can be known:
//
//   - the sizes must match;
//   - an object partflow wrote carries its source's fingerprint in its metadata: it must equal
//     the source's fingerprint now (a file rewritten with the same size has another mtime,
//     ctime or inode; a URL another ETag or Last-Modified);
//   - an object without one (written by another tool) is skipped only when the source fits in
//     one part and the object's ETag is a plain MD5 (a single PUT without SSE-C/KMS) that the
//     source's MD5 matches. A multipart ETag cannot be compared (it depends on the part size,
//     which S3 does not tell), so such an object is uploaded again.
//
// It reports whether the upload was completed as skipped (or someone else moved it first);
// a non-nil error is what the handler returns.
func (h *Handlers) skipExisting(ctx context.Context, j job, info source.Info, plan state.UploadPlan) (bool, error) {
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
	var compared string
	switch fp, ok := obj.Metadata[FingerprintMetadata]; {
	case ok && fp == info.Fingerprint:
		compared = "size+fingerprint"
	case ok:
		j.log.Info("ExistingObjectDiffers", "fingerprint", info.Fingerprint, "existing_fingerprint", fp)
		return false, nil
	case info.Size <= plan.PartSize && isMD5(obj.ETag):
		sum, err := h.sourceMD5(ctx, j, info)
		if err != nil {
			return false, err
		}
		if sum != obj.ETag {
			j.log.Info("ExistingObjectDiffers", "md5", sum, "existing_etag", obj.ETag)
			return false, nil
		}
		compared = "size+md5"
	default:
		j.log.Info("ExistingObjectUnverifiable", "etag", obj.ETag,
			"reason", "no partflow fingerprint and a multipart ETag: uploading again")
		return false, nil
	}
	out, err := h.store.CompleteSkipped(ctx, j.u.ID, j.u.Version, plan, obj.ETag)
	if err != nil {
		return false, err
	}
	if out.Result != state.ResultOK {
		j.log.Info("StartLost", "result", out.Result, "state", out.State)
		return true, nil
	}
	j.log.Info("UploadSkipped", "size", info.Size, "etag", obj.ETag, "compared", compared)
	h.reportIfFinished(ctx, j, out)
	return true, nil
}

// sourceMD5 hashes the source as planned, a bounded buffer at a time.
func (h *Handlers) sourceMD5(ctx context.Context, j job, info source.Info) (string, error) {
	hash := md5.New()
	buf := make([]byte, min(info.Size, skipReadSize))
	for off := int64(0); off < info.Size; {
		chunk := buf[:min(int64(len(buf)), info.Size-off)]
		if err := h.readSource(ctx, j, info, off, chunk); err != nil {
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
