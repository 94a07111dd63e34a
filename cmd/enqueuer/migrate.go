package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/manifest"
)

// defaultWindow is migrate's --window: unfinished uploads kept in Redis per migration.
const defaultWindow = 20000

// keptSkips is how many skipped directory entries a JSON document lists (all are counted).
const keptSkips = 1000

// migrate is `enqueuer migrate`: it reads the items twice, first to validate them all (and
// derive a manifest's migration ID from its content), then to enqueue them, so a manifest
// with a bad line enqueues nothing (unless --skip-invalid) and memory stays flat however
// many items there are.
func (c *command) migrate(ctx context.Context, args []string) int {
	fs := c.flags("migrate", "--bucket B [--prefix P] (--source DIR | --manifest FILE|-) [flags]")
	bucket := fs.String("bucket", "", "destination bucket (required); a manifest line may name its own")
	prefix := fs.String("prefix", "", "put in front of every key")
	dir := fs.String("source", "", "directory to migrate, relative to the volume root (needs --volume-root); keys are paths relative to it")
	manifestPath := fs.String("manifest", "", "JSON Lines manifest to migrate, or - for stdin")
	volumeRoot := fs.StringEnv("volume-root", "PARTFLOW_VOLUME_ROOT", "", "mount point of the shared volume, to walk --source DIR and to hold the feed file a --window migration reads")
	window := fs.Int("window", defaultWindow, "most unfinished uploads the migration keeps in Redis: the fleet feeds the rest from a copy of the listing on the volume (needs --volume-root when there are more items); 0: write every item into Redis now")
	skipExisting := fs.Bool("skip-existing", false, "skip objects that already exist with the same size (and MD5, for objects of one part)")
	skipInvalid := fs.Bool("skip-invalid", false, "enqueue the valid items even if some are invalid (they are reported)")
	dryRun := fs.Bool("dry-run", false, "validate and print the plan (counts, bytes, first keys); enqueue nothing")
	priority := fs.String("priority", "default", "low, default or high: the queue of the part tasks")
	id := fs.String("id", "", "migration ID (default: derived from bucket, prefix and the directory or the manifest's content, so a re-run carries on the same migration)")
	partSize := fs.String("part-size", "", "multipart part size, 5MiB to 5GiB (default 16MiB)")
	concurrency := fs.Int("concurrency", client.DefaultMigrateConcurrency, "uploads enqueued at once")
	allowHosts := fs.ListEnv("allow-url-host", "PARTFLOW_ALLOW_URL_HOSTS", "hosts URL sources may name: host, *.suffix or *; repeat or comma-separate")
	firstKeys := fs.Int("show-keys", 10, "with --dry-run, how many keys to print")
	dedupe := fs.String("dedupe", "", "what to do with a key listed more than once: refuse the migration (default, exit 2 listing them) or \"last\" to upload the last entry of each")
	wait := fs.Bool("wait", false, "wait until every upload finished, showing progress; exit 0 only if all completed")
	asJSON := fs.Bool("json", false, "print one JSON document instead of text")
	jsonLines := c.jsonLinesFlag(fs.FlagSet, "--wait")
	objFlags := defineObjectFlags(fs.FlagSet)
	filterFlags := defineFilterFlags(fs.FlagSet)
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if code := c.startEvents("migrate", *jsonLines, *asJSON); code != exitOK {
		return code
	}
	opts, err := objFlags.options()
	switch {
	case err != nil:
		return c.fail(exitUsage, "migrate: %v (a manifest line's options override these flags)", err)
	case fs.NArg() > 0:
		return c.fail(exitUsage, "migrate: unexpected argument %q", fs.Arg(0))
	case (*dir == "") == (*manifestPath == ""):
		return c.fail(exitUsage, "migrate: give exactly one of --source DIR and --manifest FILE")
	case *window < 0:
		return c.fail(exitUsage, "migrate: --window %d must not be negative", *window)
	case *dir != "" && *volumeRoot == "":
		return c.fail(exitUsage, "migrate: --source DIR needs --volume-root (or PARTFLOW_VOLUME_ROOT) to walk the directory")
	}
	flt, filterID, err := filterFlags.build(time.Now(), *manifestPath != "")
	if err != nil {
		return c.fail(exitUsage, "migrate: %v", err)
	}
	req := client.MigrateRequest{ID: *id, Bucket: *bucket, Prefix: *prefix, Priority: client.Priority(*priority),
		SkipExisting: *skipExisting, SkipInvalid: *skipInvalid, Concurrency: *concurrency, Dedupe: client.Dedupe(*dedupe),
		Options: opts}
	if *partSize != "" {
		n, err := humanize.ParseBytes(*partSize)
		if err != nil {
			return c.fail(exitUsage, "migrate: bad --part-size %q: %v", *partSize, err)
		}
		req.PartSize = int64(n)
	}
	req.AllowURLHosts = *allowHosts

	// The items, and what the migration's ID derives from.
	var (
		mf     *manifest.File
		skips  skipList
		source string
	)
	if *dir != "" {
		root, err := os.OpenRoot(*volumeRoot)
		if err != nil {
			return c.fail(exitUsage, "migrate: volume root: %v", err)
		}
		defer root.Close()
		clean, err := client.CleanVolumeDir(*dir)
		if err != nil {
			return c.fail(exitUsage, "migrate: --source: %v", err)
		}
		if st, err := root.Stat(clean); err != nil || !st.IsDir() {
			return c.fail(exitUsage, "migrate: --source %s is not a directory below the volume root %s", *dir, *volumeRoot)
		}
		req.Items = client.WalkVolume(root, clean, skips.add)
		source = "dir:" + clean
	} else {
		var err error
		if *manifestPath == "-" {
			mf, err = manifest.Spool(os.Stdin, "")
		} else {
			mf, err = manifest.Open(*manifestPath, "")
		}
		if err != nil {
			return c.fail(exitUsage, "migrate: %v", err)
		}
		defer mf.Close()
		req.Items = mf.Items()
	}
	var filteredOut int64
	if flt != nil {
		req.Items = filtered(req.Items, flt, &filteredOut)
	}

	var js *jsonStream
	if *asJSON {
		js = newJSONStream(c.stdout)
		js.begin("", '{')
		js.begin("invalid", '[')
	}
	req.OnInvalid = func(err error) {
		if c.events != nil {
			c.events.invalid(err)
			return
		}
		if js != nil {
			var ie *client.ItemError
			if errors.As(err, &ie) {
				js.value("", map[string]string{"where": ie.Where, "error": ie.Err.Error()})
			} else {
				js.value("", map[string]string{"error": err.Error()})
			}
			return
		}
		fmt.Fprintf(c.stderr, "invalid: %v\n", err)
	}
	skips.print = !*asJSON
	skips.w = c.notes()
	skips.events = c.events

	// Pass 1: validate every item.
	checkStart := time.Now()
	plan, err := req.Plan(max(*firstKeys, 0))
	if js != nil {
		js.end()
	}
	if err != nil {
		return c.abort(js, exitCodeOf(err), "migrate: %v", err)
	}
	if mf != nil {
		source = "manifest:sha256:" + mf.SHA256()
	}
	if filterID != "" {
		source += ";" + filterID
	}
	req.Source = source
	if req.ID == "" {
		req.ID = client.DeriveMigrationID(req.Bucket, req.Prefix, req.Source)
	}
	if js != nil {
		js.value("migration_id", req.ID)
		js.value("source", req.Source)
		js.value("dry_run", *dryRun)
		if !*dryRun {
			plan.FirstKeys = nil
		}
		js.value("plan", plan)
		if flt != nil {
			js.value("filtered_out", filteredOut)
		}
		if skips.n > 0 {
			js.value("skipped_entries_total", skips.n)
			js.value("skipped_entries", skips.kept)
		}
	} else {
		notes := c.notes()
		fmt.Fprintf(notes, "checked %d items in %s: %d valid, %d invalid", plan.Valid+plan.Invalid,
			time.Since(checkStart).Round(time.Millisecond), plan.Valid, plan.Invalid)
		if plan.Bytes > 0 {
			fmt.Fprintf(notes, ", %s", humanize.IBytes(uint64(plan.Bytes)))
		}
		if flt != nil {
			fmt.Fprintf(notes, "; %d left out by the filters", filteredOut)
		}
		if skips.n > 0 {
			fmt.Fprintf(notes, "; %d entries skipped (not regular files)", skips.n)
		}
		if plan.Duplicates > 0 {
			fmt.Fprintf(notes, "; %d repeat an earlier key", plan.Duplicates)
		}
		fmt.Fprintln(notes)
	}
	if c.events != nil {
		c.events.planned(req.ID, plan, *dryRun)
	}
	if plan.Duplicates > 0 && req.Dedupe == client.DedupeRefuse {
		return c.abort(js, exitUsage, "migrate: %d items name a key an earlier item names too (listed above); nothing was enqueued (remove them, or pass --dedupe last to upload the last entry of each key)",
			plan.Duplicates)
	}
	if plan.Invalid > 0 && !*skipInvalid {
		return c.abort(js, exitUsage, "migrate: %d invalid items; nothing was enqueued (fix them, or pass --skip-invalid to enqueue the %d valid ones)",
			plan.Invalid, plan.Valid)
	}
	if *dryRun {
		if c.events != nil {
			c.events.done(req.ID, "", exitOK)
			return c.eventsDone(exitOK)
		}
		if js != nil {
			js.end()
			return c.jsonDone(js)
		}
		c.printPlan(req, plan)
		if flt != nil {
			fmt.Fprintf(c.stdout, "filtered   %d items left out by --include/--exclude/size/age/--files-from\n", filteredOut)
		}
		return exitOK
	}

	// A window that the items exceed needs the volume, where the fleet reads the feed file.
	if *window > 0 && int64(*window) < plan.Valid {
		if *volumeRoot == "" {
			return c.abort(js, exitUsage, "migrate: %d items are more than --window %d: give --volume-root (or PARTFLOW_VOLUME_ROOT) so the fleet can read them from the shared volume, or --window 0 to write them all into Redis now",
				plan.Valid, *window)
		}
		root, err := os.OpenRoot(*volumeRoot)
		if err != nil {
			return c.abort(js, exitUsage, "migrate: --volume-root: %v", err)
		}
		defer root.Close()
		req.Window, req.FeedVolume = *window, root
	}

	// Pass 2: enqueue.
	pf, closeAll, err := c.connect(ctx)
	if err != nil {
		return c.abort(js, exitRuntime, "%v", err)
	}
	defer closeAll()
	skips.frozen = true
	req.OnInvalid = nil // reported by the first pass
	req.SkipInvalid = true
	req.Progress = c.enqueueProgress(*asJSON, plan.Valid) // Migrate's last call has Sealed set
	res, err := pf.Migrate(ctx, req)
	if js != nil {
		js.value("enqueue", enqueueJSON{MigrateResult: res, Seconds: res.Duration.Seconds(), PerSecond: res.Rate()})
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted after %d items; run the same command again to carry on", res.Items)
		}
		return c.abort(js, exitCodeOf(err), "migrate: %v", err)
	}
	if res.Invalid > plan.Invalid {
		// Only a directory that changed between the passes gets here.
		fmt.Fprintf(c.stderr, "enqueuer: migrate: %d items became invalid after the first pass and were left out\n",
			res.Invalid-plan.Invalid)
	}
	if c.events != nil {
		c.events.enqueuedMigration(res)
	}
	switch {
	case *asJSON:
	case res.Fed:
		fmt.Fprintf(c.notes(), "migration %s: %d items written to %s in %s; the fleet feeds them, %d unfinished at a time\n",
			res.ID, res.Items, res.FeedFile, res.Duration.Round(time.Millisecond), *window)
	default:
		fmt.Fprintf(c.notes(), "migration %s: %d items enqueued in %s (%.0f items/s): %d new uploads, %d existing (%d start tasks re-enqueued)\n",
			res.ID, res.Items, res.Duration.Round(time.Millisecond), res.Rate(), res.Created, res.Existing, res.Requeued)
	}
	if !*wait {
		if c.events != nil {
			c.events.done(res.ID, "", exitOK)
			return c.eventsDone(exitOK)
		}
		if js != nil {
			js.end()
			return c.jsonDone(js)
		}
		fmt.Fprintln(c.stdout, res.ID)
		return exitOK
	}
	code := c.finishMigration(ctx, pf, res.ID, plan.Bytes, *asJSON, js)
	if js != nil {
		js.closeAll()
		if js.err != nil {
			return c.fail(exitRuntime, "write JSON: %v", js.err)
		}
	}
	return code
}

// enqueueJSON is the "enqueue" part of migrate's JSON document.
type enqueueJSON struct {
	client.MigrateResult
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"items_per_second"`
}

// exitCodeOf maps an error to an exit code: invalid input is a usage error.
func exitCodeOf(err error) int {
	if errors.Is(err, client.ErrInvalid) {
		return exitUsage
	}
	return exitRuntime
}

// abort ends the command with an error, closing the JSON document (with an "error" field)
// when one is open.
func (c *command) abort(js *jsonStream, code int, format string, args ...any) int {
	if js != nil {
		js.value("error", fmt.Sprintf(format, args...))
		js.closeAll()
	}
	return c.fail(code, format, args...)
}

func (c *command) jsonDone(js *jsonStream) int {
	js.closeAll()
	if js.err != nil {
		return c.fail(exitRuntime, "write JSON: %v", js.err)
	}
	return exitOK
}

// printPlan prints the dry run's plan.
func (c *command) printPlan(req client.MigrateRequest, plan client.MigrationPlan) {
	fmt.Fprintf(c.stdout, "dry run: migration %s (nothing enqueued)\n", req.ID)
	fmt.Fprintf(c.stdout, "source     %s\n", req.Source)
	fmt.Fprintf(c.stdout, "items      %d valid, %d invalid\n", plan.Valid, plan.Invalid)
	if plan.Bytes > 0 || strings.HasPrefix(req.Source, "dir:") {
		fmt.Fprintf(c.stdout, "bytes      %s (%d)\n", humanize.IBytes(uint64(plan.Bytes)), plan.Bytes)
	} else {
		fmt.Fprintln(c.stdout, "bytes      unknown until workers stat the sources")
	}
	if len(plan.FirstKeys) > 0 {
		fmt.Fprintf(c.stdout, "first %d objects:\n", len(plan.FirstKeys))
		for _, k := range plan.FirstKeys {
			fmt.Fprintf(c.stdout, "  %s\n", k)
		}
	}
}

// enqueueProgress returns the callback that shows the enqueue pass on stderr: a bar of items
// on a terminal, a plain line every plainInterval otherwise, nothing with --json.
func (c *command) enqueueProgress(asJSON bool, total int64) func(client.MigrateResult) {
	if asJSON || c.verbosity.quiet || c.events != nil {
		return nil
	}
	if f, ok := c.stderr.(*os.File); ok && cli.IsTerminal(f) {
		bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("enqueuing"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(f) }))
		return func(r client.MigrateResult) {
			bar.Describe(fmt.Sprintf("enqueuing, %.0f items/s", r.Rate()))
			_ = bar.Set64(r.Items)
			if r.Sealed {
				_ = bar.Finish()
			}
		}
	}
	var last time.Time
	return func(r client.MigrateResult) {
		if r.Sealed || time.Since(last) < c.plainEvery() {
			return
		}
		last = time.Now()
		fmt.Fprintf(c.stderr, "%s enqueued %d/%d items (%.0f/s)\n", last.Format(time.TimeOnly), r.Items, total, r.Rate())
	}
}

// skipList collects the directory entries a walk leaves out: printed as they come in text
// mode, the first keptSkips kept for the JSON document. Only the first pass records them.
type skipList struct {
	n      int64
	kept   []map[string]string
	print  bool
	frozen bool
	w      io.Writer
	events *eventWriter // --json-lines: an event each, instead of a line or the list
}

func (s *skipList) add(path, reason string) {
	if s.frozen {
		return
	}
	s.n++
	if s.events != nil {
		s.events.skipped(path, reason)
	} else if s.print {
		fmt.Fprintf(s.w, "skipped: %s: %s\n", path, reason)
	} else if len(s.kept) < keptSkips {
		s.kept = append(s.kept, map[string]string{"path": path, "reason": reason})
	}
}
