package tasks

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/partflow/partflow/internal/s3source"
	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
)

// copies reports whether j's bytes are copied server-side rather than read through the
// worker: an s3:// source on a worker whose source store is the destination's (Config.Copier).
func (h *Handlers) copies(j job) bool { return h.copier != nil && source.IsS3(j.u.Source) }

// withSourceProps completes opts with what the source carries (an S3 object's content type,
// metadata, headers and, when the worker copies them, tags). The upload's own values win: its
// content type, its metadata key by key, its tags as a whole. Without a content type from
// either, the key's extension decides.
func withSourceProps(opts storage.ObjectOptions, p *source.Props, key string) storage.ObjectOptions {
	if p == nil {
		return opts
	}
	if opts.ContentType == "" {
		opts.ContentType = p.ContentType
	}
	if opts.ContentType == "" {
		opts.ContentType = storage.ContentTypeFor(key)
	}
	if len(p.Metadata) > 0 {
		meta := maps.Clone(p.Metadata)
		maps.Copy(meta, opts.Metadata)
		opts.Metadata = meta
	}
	for _, f := range []struct {
		dst *string
		src string
	}{{&opts.ContentEncoding, p.ContentEncoding},
		{&opts.ContentDisposition, p.ContentDisposition}, {&opts.CacheControl, p.CacheControl}} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	if len(opts.Tags) == 0 && len(p.Tags) > 0 {
		opts.Tags = p.Tags
	}
	return opts
}

// copySingle copies a source that fits one part with one server-side CopyObject pinned to the
// planned ETag, checks the copy's size and completes the upload.
func (h *Handlers) copySingle(ctx context.Context, j job, info source.Info, plan state.UploadPlan, opts storage.ObjectOptions) error {
	src, err := s3source.Object(j.u.Source, info)
	if err != nil {
		return h.fail(ctx, j, err, false)
	}
	releaseDest, err := h.holdDestination(ctx, j, PartTimeout(info.Size), false)
	if err != nil {
		return err
	}
	defer releaseDest()
	part, err := h.copier.CopyObject(ctx, j.object(), src, opts)
	if err != nil {
		return h.copyError(ctx, j, fmt.Errorf("copy object: %w", err))
	}
	// The copy names its source by the ETag seen at plan time, so its bytes are that
	// version's; its size is checked as the finalizer checks an assembled object.
	got, err := h.s3.StatObject(ctx, j.object(), opts)
	if err != nil {
		return h.s3Error(ctx, j, fmt.Errorf("verify copied object: %w", err))
	}
	if got.Size != info.Size {
		return h.fail(ctx, j, fmt.Errorf("the copy of %s has %d bytes, want %d", src, got.Size, info.Size), false)
	}
	return h.completeSingle(ctx, j, info, plan, part.ETag)
}

// copyPart copies part n ([off, off+length) of the source) server-side with UploadPartCopy
// and records it.
func (h *Handlers) copyPart(ctx context.Context, j job, fence state.PartFence, n int, off, length int64) error {
	want := source.Info{Size: j.u.Size, Fingerprint: j.u.Fingerprint}
	src, err := s3source.Object(j.u.Source, want)
	if err != nil {
		return h.fail(ctx, j, err, false)
	}
	opts, err := h.objectOptions(j)
	if err != nil {
		return h.fail(ctx, j, err, false)
	}
	part, err := h.copier.CopyPart(ctx, j.object(), fence.S3UploadID, n, src, off, length, opts)
	switch {
	case errors.Is(err, storage.ErrNoSuchUpload):
		return h.uploadVanished(ctx, j, fence, nil, err)
	case err != nil:
		return h.copyError(ctx, j, fmt.Errorf("copy part %d: %w", n, err))
	}
	out, err := h.store.RecordPart(ctx, j.u.ID, fence, n, partRecord(part), length)
	if err != nil {
		return err
	}
	j.log.Debug("PartCopied", "bytes", length, "etag", part.ETag, "result", out.Result)
	return h.afterRecord(ctx, j, fence, out)
}

// copyError fails the upload for a copy whose source changed (aborting the multipart upload:
// its parts are of another version) or is gone, and treats the rest as S3 errors.
func (h *Handlers) copyError(ctx context.Context, j job, err error) error {
	if errors.Is(err, storage.ErrPreconditionFailed) || errors.Is(err, storage.ErrNoSuchKey) {
		serr := s3source.Classify(j.u.Source, err)
		return h.fail(ctx, j, serr, errors.Is(serr, source.ErrChanged))
	}
	return h.s3Error(ctx, j, err)
}
