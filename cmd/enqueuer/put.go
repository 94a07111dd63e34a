package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/listing"
)

func (c *command) put(ctx context.Context, args []string) int {
	fs := c.flags("put", "--source SRC --bucket B --key K [flags]")
	src := fs.String("source", "", "file path relative to the volume root, or an http(s) URL (required)")
	bucket := fs.String("bucket", "", "destination bucket (required)")
	key := fs.String("key", "", "destination object key (required)")
	partSize := fs.String("part-size", "16MiB", "multipart part size, 5MiB to 5GiB; grown so no upload needs more than 10,000 parts")
	contentType := fs.String("content-type", "", "Content-Type of the object (default: from the key's extension, else application/octet-stream)")
	objFlags := defineObjectFlags(fs.FlagSet)
	wait := fs.Bool("wait", false, "wait until the upload finishes, showing progress; exit 0 only if it completed")
	asJSON := fs.Bool("json", false, "print one JSON document instead of text")
	jsonLines := c.jsonLinesFlag(fs.FlagSet, "--wait")
	volumeRoot := fs.String("volume-root", cli.Env("PARTFLOW_VOLUME_ROOT", ""),
		"mount point of the shared volume, if the enqueuer sees it: a volume SRC must then exist there, checked before anything is enqueued (PARTFLOW_VOLUME_ROOT)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.fail(exitUsage, "put: unexpected argument %q", fs.Arg(0))
	}
	if code := c.startReporter("put", *asJSON, *jsonLines); code != exitOK {
		return code
	}
	size, err := humanize.ParseBytes(*partSize)
	if err != nil {
		return c.fail(exitUsage, "put: bad --part-size %q: %v", *partSize, err)
	}
	opts, err := objFlags.options()
	if err != nil {
		return c.fail(exitUsage, "put: %v", err)
	}
	req := client.PutRequest{Source: *src, Bucket: *bucket, Key: *key, PartSize: int64(size), ContentType: *contentType,
		Options: opts}
	if err := req.Validate(); err != nil {
		return c.fail(exitUsage, "put: %v", err)
	}
	if *volumeRoot != "" {
		if code := c.checkVolumeFile(*volumeRoot, *src); code != exitOK {
			return code
		}
	}

	pf, closeAll, code := c.connect(ctx)
	if code != 0 {
		return code
	}
	defer closeAll()
	id, err := pf.Put(ctx, req)
	if err != nil {
		if errors.Is(err, client.ErrInvalid) {
			return c.fail(exitUsage, "put: %v", err)
		}
		return c.fail(exitRuntime, "put: %v", err)
	}
	if !*wait {
		return c.rep.putEnqueued(id)
	}
	c.rep.waiting(id, fmt.Sprintf("%s → %s/%s", *src, *bucket, *key))
	return c.waitUpload(ctx, pf, id)
}

// waitUpload follows an upload to its end, showing its progress, then reports it and
// returns the exit code: 0 only if it completed.
func (c *command) waitUpload(ctx context.Context, pf *client.Client, id client.UploadID) int {
	start := time.Now()
	u, err := pf.WaitUpload(ctx, id, c.rep.uploadProgress())
	if err != nil {
		return c.fail(exitRuntime, "waiting for %s: %v (the upload goes on; check it with 'enqueuer status %s')", id, err, id)
	}
	code := exitOK
	if u.State != client.StateCompleted {
		code = exitFailed
	}
	return c.rep.uploadResult(u, time.Since(start), code)
}

// checkVolumeFile checks a volume source before anything is enqueued, when the enqueuer
// sees the volume (--volume-root): a missing file is found now, not by a worker.
func (c *command) checkVolumeFile(volumeRoot, src string) int {
	root, err := os.OpenRoot(volumeRoot)
	if err != nil {
		return c.fail(exitUsage, "put: volume root: %v", err)
	}
	defer root.Close()
	if err := listing.CheckVolumeFile(root, src); err != nil {
		return c.fail(exitUsage, "put: %v", err)
	}
	return exitOK
}
