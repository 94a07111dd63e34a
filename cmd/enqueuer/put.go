package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"

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
	if code := c.startEvents("put", *jsonLines, *asJSON); code != exitOK {
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

	pf, closeAll, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitRuntime, "%v", err)
	}
	defer closeAll()
	id, err := pf.Put(ctx, req)
	if err != nil {
		if errors.Is(err, client.ErrInvalid) {
			return c.fail(exitUsage, "put: %v", err)
		}
		return c.fail(exitRuntime, "put: %v", err)
	}
	if c.events != nil {
		c.events.enqueuedUpload(id)
		if !*wait {
			c.events.done(id.String(), string(client.StatePlanned), exitOK)
			return c.eventsDone(exitOK)
		}
	}
	if !*wait {
		if *asJSON {
			return c.printJSON(map[string]string{"upload_id": id.String(), "migration_id": id.Migration})
		}
		fmt.Fprintln(c.stdout, id)
		return exitOK
	}
	if !*asJSON && c.events == nil {
		fmt.Fprintf(c.notes(), "enqueued upload %s: %s → %s/%s\n", id, *src, *bucket, *key)
	}
	return c.waitUpload(ctx, pf, id, *asJSON)
}

// waitUpload follows an upload to its end: a progress bar on a terminal, a plain line per
// change otherwise; then a summary (or one JSON document) and the exit code.
func (c *command) waitUpload(ctx context.Context, pf *client.Client, id client.UploadID, asJSON bool) int {
	show := c.progress(asJSON)
	start := time.Now()
	u, err := pf.WaitUpload(ctx, id, show)
	if err != nil {
		return c.fail(exitRuntime, "waiting for %s: %v (the upload goes on; check it with 'enqueuer status %s')", id, err, id)
	}
	code := exitOK
	if u.State != client.StateCompleted {
		code = exitFailed
	}
	switch {
	case c.events != nil:
		c.events.done(id.String(), string(u.State), code)
		return c.eventsDone(code)
	case asJSON:
		if wcode := c.printJSON(client.StatusOf(u)); wcode != exitOK {
			return wcode
		}
	default:
		c.summary(u, time.Since(start))
	}
	return code
}

// progress returns the callback that shows an upload's progress on stderr.
func (c *command) progress(asJSON bool) func(client.Upload) {
	if c.events != nil {
		return c.events.upload
	}
	if asJSON || c.verbosity.quiet {
		return nil
	}
	if f, ok := c.stderr.(*os.File); ok && cli.IsTerminal(f) {
		var bar *progressbar.ProgressBar
		return func(u client.Upload) {
			// A bar only for multipart uploads: a single PUT lands at once, and the summary
			// line says how it went.
			if bar == nil && (u.Parts <= 1 || u.State.Terminal()) {
				return
			}
			if bar == nil {
				bar = progressbar.NewOptions64(u.Size, progressbar.OptionSetWriter(f), progressbar.OptionShowBytes(true),
					progressbar.OptionSetDescription(u.Key), progressbar.OptionSetPredictTime(true),
					progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionFullWidth(), progressbar.OptionOnCompletion(func() { fmt.Fprintln(f) }))
			}
			desc := fmt.Sprintf("%s [%d/%d parts]", u.Key, u.PartsDone, u.Parts)
			if u.State == client.StateCompleting {
				desc = u.Key + " [completing: S3 assembles the parts]"
			}
			bar.Describe(desc)
			_ = bar.Set64(u.BytesDone)
			switch {
			case u.State == client.StateCompleted:
				_ = bar.Finish()
			case u.State.Terminal():
				_ = bar.Exit()
				fmt.Fprintln(f)
			}
		}
	}
	return func(u client.Upload) {
		fmt.Fprintf(c.stderr, "%s %s: %s, %d/%d parts, %s/%s\n", time.Now().Format(time.TimeOnly), u.ID, u.State,
			u.PartsDone, u.Parts, humanize.IBytes(uint64(u.BytesDone)), humanize.IBytes(uint64(max(u.Size, 0))))
	}
}

func (c *command) summary(u client.Upload, took time.Duration) {
	switch u.State {
	case client.StateCompleted:
		fmt.Fprintf(c.stdout, "completed %s/%s: %s in %s (%s/s), ETag %s\n", u.Bucket, u.Key,
			humanize.IBytes(uint64(u.Size)), took.Round(time.Millisecond),
			humanize.IBytes(uint64(float64(u.Size)/max(took.Seconds(), 0.001))), u.ETag)
	default:
		fmt.Fprintf(c.stdout, "%s %s/%s (upload %s): %s\n", u.State, u.Bucket, u.Key, u.ID, u.Error)
	}
}

func (c *command) printJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail(exitRuntime, "write JSON: %v", err)
	}
	return exitOK
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
