package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/filter"
	"github.com/partflow/partflow/internal/listing"
	"github.com/partflow/partflow/internal/manifest"
	"github.com/partflow/partflow/internal/source"
)

// defaultWindow is migrate's --window: unfinished uploads kept in Redis per migration.
const defaultWindow = 20000

// migrateFlags are migrate's flags as parsed.
type migrateFlags struct {
	bucket, prefix, dir, manifest, volumeRoot, priority, id, partSize, dedupe *string
	skipExisting, skipInvalid, dryRun, wait, asJSON, jsonLines                *bool
	concurrency, firstKeys, window                                            *int
	allowHosts                                                                *[]string
	object                                                                    objectFlags
	filter                                                                    *filterFlags
	args                                                                      []string // none are expected
	timeout                                                                   *time.Duration
	maxFailures, reportTo                                                     *string
	bwlimit                                                                   *int64
	sourceStore                                                               sourceStoreFlags
}

// migration is one run of migrate: the request, its items and what is known of them.
type migration struct {
	flags    migrateFlags
	req      client.MigrateRequest
	filter   *filter.Filter
	filterID string // what the filters add to the source (and so to the derived ID)
	source   string // what the migration's ID derives from (a manifest's once it is read)
	manifest *manifest.File
	skips    skipList
	dropped  int64 // items the filters left out
	closers  []func() error
}

// migrate is `enqueuer migrate`: it reads the items twice, first to validate them all (and
// derive a manifest's migration ID from its content), then to enqueue them, so a manifest
// with a bad line enqueues nothing (unless --skip-invalid) and memory stays flat however
// many items there are. Steps: parse the flags, validate them into a request, open the
// items, run the two passes (and wait, with --wait).
func (c *command) migrate(ctx context.Context, args []string) int {
	f, code, ok := c.parseMigrate(args)
	if !ok {
		return code
	}
	mg := &migration{flags: f}
	if code, ok := c.validateMigrate(mg); !ok {
		return code
	}
	defer mg.close()
	if source.IsS3(*f.dir) {
		return c.migrateListed(ctx, mg)
	}
	if code, ok := c.openItems(mg); !ok {
		return code
	}
	return c.runMigration(ctx, mg)
}

// parseMigrate defines and parses migrate's flags and picks the reporter.
func (c *command) parseMigrate(args []string) (migrateFlags, int, bool) {
	fs := c.flags("migrate", "--bucket B [--prefix P] (--source DIR | --source s3://BUCKET/PREFIX/ | --manifest FILE|-) [flags]")
	f := migrateFlags{
		bucket:       fs.String("bucket", "", "destination bucket (required); a manifest line may name its own"),
		prefix:       fs.String("prefix", "", "put in front of every key"),
		dir:          fs.String("source", "", "directory to migrate, relative to the volume root (needs --volume-root), or s3://bucket/prefix/ of the workers' source store, listed by the fleet (the enqueuer needs no source credentials; not with --dry-run or --window 0); keys are paths relative to it"),
		manifest:     fs.String("manifest", "", "JSON Lines manifest to migrate, or - for stdin"),
		volumeRoot:   fs.StringEnv("volume-root", "PARTFLOW_VOLUME_ROOT", "", "mount point of the shared volume, to walk --source DIR and to hold the feed file a --window migration reads"),
		window:       fs.Int("window", defaultWindow, "most unfinished uploads the migration keeps in Redis: the fleet feeds the rest from a copy of the listing on the volume (needs --volume-root when there are more items); 0: write every item into Redis now"),
		skipExisting: fs.Bool("skip-existing", false, "skip objects that already exist with the same size (and MD5, for objects of one part)"),
		skipInvalid:  fs.Bool("skip-invalid", false, "enqueue the valid items even if some are invalid (they are reported)"),
		dryRun:       fs.Bool("dry-run", false, "validate and print the plan (counts, bytes, first keys); enqueue nothing"),
		priority:     fs.String("priority", "default", "low, default or high: the queue of the part tasks"),
		id:           fs.String("id", "", "migration ID (default: derived from bucket, prefix and the directory or the manifest's content, so a re-run carries on the same migration)"),
		partSize:     fs.String("part-size", "", "multipart part size, 5MiB to 5GiB (default 16MiB)"),
		concurrency:  fs.Int("concurrency", client.DefaultMigrateConcurrency, "uploads enqueued at once"),
		allowHosts:   fs.ListEnv("allow-url-host", "PARTFLOW_ALLOW_URL_HOSTS", "hosts URL sources may name: host, *.suffix or *; repeat or comma-separate"),
		firstKeys:    fs.Int("show-keys", 10, "with --dry-run, how many keys to print"),
		dedupe:       fs.String("dedupe", "", "what to do with a key listed more than once: refuse the migration (default, exit 2 listing them) or \"last\" to upload the last entry of each"),
		wait:         fs.Bool("wait", false, "wait until every upload finished, showing progress; exit 0 only if all completed"),
		asJSON:       fs.Bool("json", false, "print one JSON document instead of text"),
	}
	f.timeout = fs.Duration("timeout", 0, "with --wait, stop waiting after this long (exit 4); the migration goes on")
	f.maxFailures = fs.String("max-failures", "", "pause the migration once more than N uploads (or P% of them, e.g. 5%) failed; resume ID continues")
	f.reportTo = fs.String("report-to", "", "s3://bucket/key: when the migration is finished the workers write its report there (CSV for a .csv key, JSON Lines otherwise)")
	f.bwlimit = fs.Size("bwlimit", 0, "cap on bytes per second the whole fleet sends for this migration, e.g. 50MiB; 0 means none")
	f.jsonLines = c.jsonLinesFlag(fs.FlagSet, "--wait")
	f.object = defineObjectFlags(fs.FlagSet)
	f.filter = defineFilterFlags(fs.FlagSet)
	f.sourceStore = defineSourceStoreFlags(fs)
	if code, ok := c.parse(fs, args); !ok {
		return f, code, false
	}
	if code := c.startReporter("migrate", *f.asJSON, *f.jsonLines); code != exitOK {
		return f, code, false
	}
	f.args = fs.Args()
	return f, exitOK, true
}

// validateMigrate checks the flags together and builds the request.
func (c *command) validateMigrate(mg *migration) (int, bool) {
	f := mg.flags
	opts, err := f.object.options()
	var prefixErr error // of an S3 prefix source
	if source.IsS3(*f.dir) {
		_, prefixErr = client.NormalizeS3Prefix(*f.dir)
	}
	switch {
	case err != nil:
		return c.fail(exitUsage, "migrate: %v (a manifest line's options override these flags)", err), false
	case len(f.args) > 0:
		return c.fail(exitUsage, "migrate: unexpected argument %q", f.args[0]), false
	case (*f.dir == "") == (*f.manifest == ""):
		return c.fail(exitUsage, "migrate: give exactly one of --source DIR and --manifest FILE"), false
	case *f.window < 0:
		return c.fail(exitUsage, "migrate: --window %d must not be negative", *f.window), false
	case prefixErr != nil:
		return c.fail(exitUsage, "migrate: --source: %v", prefixErr), false
	case source.IsS3(*f.dir) && *f.window == 0:
		return c.fail(exitUsage, "migrate: --source %s: --window 0 cannot be used with an S3 prefix: the fleet's feeder lists it, a window at a time", *f.dir), false
	case source.IsS3(*f.dir) && *f.dryRun && *f.sourceStore.endpoint == "":
		// The listing needs the source store's credentials, which only the workers hold.
		return c.fail(exitUsage, "migrate: --source %s: --dry-run lists an S3 prefix only with --source-s3-endpoint "+
			"(PARTFLOW_SOURCE_S3_ENDPOINT) and the source store's PARTFLOW_SOURCE_AWS_* credentials; without them the fleet lists it", *f.dir), false
	case *f.dir != "" && !source.IsS3(*f.dir) && *f.volumeRoot == "":
		return c.fail(exitUsage, "migrate: --source DIR needs --volume-root (or PARTFLOW_VOLUME_ROOT) to walk the directory"), false
	case *f.timeout < 0 || (*f.timeout > 0 && !*f.wait):
		return c.fail(exitUsage, "migrate: --timeout needs --wait and a positive duration"), false
	}
	controls := client.MigrationControls{ReportTo: *f.reportTo, BandwidthLimit: *f.bwlimit}
	if *f.maxFailures != "" {
		mf, err := client.ParseMaxFailures(*f.maxFailures)
		if err != nil {
			return c.fail(exitUsage, "migrate: --max-failures: %v", err), false
		}
		controls.MaxFailures, controls.MaxFailuresPercent = mf.MaxFailures, mf.MaxFailuresPercent
	}
	if *f.reportTo != "" {
		if _, err := client.ParseReportTo(*f.reportTo); err != nil {
			return c.fail(exitUsage, "migrate: --report-to: %v", err), false
		}
	}
	mg.filter, mg.filterID, err = f.filter.build(time.Now(), *f.manifest != "")
	if err != nil {
		return c.fail(exitUsage, "migrate: %v", err), false
	}
	mg.req = client.MigrateRequest{ID: *f.id, Bucket: *f.bucket, Prefix: *f.prefix, Priority: client.Priority(*f.priority),
		SkipExisting: *f.skipExisting, SkipInvalid: *f.skipInvalid, Concurrency: *f.concurrency,
		Dedupe: client.Dedupe(*f.dedupe), Options: opts, AllowURLHosts: *f.allowHosts, Controls: controls}
	if *f.partSize != "" {
		n, err := humanize.ParseBytes(*f.partSize)
		if err != nil {
			return c.fail(exitUsage, "migrate: bad --part-size %q: %v", *f.partSize, err), false
		}
		mg.req.PartSize = int64(n)
	}
	return exitOK, true
}

// openItems opens the directory or the manifest the items come from.
func (c *command) openItems(mg *migration) (int, bool) {
	f := mg.flags
	if *f.dir != "" {
		root, err := os.OpenRoot(*f.volumeRoot)
		if err != nil {
			return c.fail(exitUsage, "migrate: volume root: %v", err), false
		}
		mg.closers = append(mg.closers, root.Close)
		clean, err := listing.CleanVolumeDir(*f.dir)
		if err != nil {
			return c.fail(exitUsage, "migrate: --source: %v", err), false
		}
		if st, err := root.Stat(clean); err != nil || !st.IsDir() {
			return c.fail(exitUsage, "migrate: --source %s is not a directory below the volume root %s", *f.dir, *f.volumeRoot), false
		}
		mg.skips.rep = c.rep
		mg.req.Items = listing.WalkVolume(root, clean, mg.skips.add)
		mg.source = "dir:" + clean
	} else {
		var err error
		if *f.manifest == "-" {
			mg.manifest, err = manifest.Spool(os.Stdin, "")
		} else {
			mg.manifest, err = manifest.Open(*f.manifest, "")
		}
		if err != nil {
			return c.fail(exitUsage, "migrate: %v", err), false
		}
		mg.closers = append(mg.closers, mg.manifest.Close)
		mg.req.Items = mg.manifest.Items()
	}
	if mg.filter != nil {
		mg.req.Items = filtered(mg.req.Items, mg.filter, &mg.dropped)
	}
	return exitOK, true
}

func (mg *migration) close() {
	for _, f := range slices.Backward(mg.closers) {
		_ = f()
	}
}

// runMigration runs the validation pass, then (unless --dry-run) the enqueue pass, and with
// --wait follows the migration to its end.
func (c *command) runMigration(ctx context.Context, mg *migration) int {
	f, req := mg.flags, &mg.req
	c.rep.planning()
	req.OnInvalid = c.rep.invalid

	// Pass 1: validate every item.
	checkStart := time.Now()
	plan, err := req.Plan(max(*f.firstKeys, 0))
	if err != nil {
		return c.fail(exitCodeOf(err), "migrate: %v", err)
	}
	if mg.manifest != nil {
		mg.source = "manifest:sha256:" + mg.manifest.SHA256()
	}
	if mg.filterID != "" {
		mg.source += ";" + mg.filterID
	}
	req.Source = mg.source
	if req.ID == "" {
		req.ID = client.DeriveMigrationID(req.Bucket, req.Prefix, req.Source)
	}
	summary := planSummary{ID: req.ID, Source: req.Source, Plan: plan, DryRun: *f.dryRun, Filtered: mg.filter != nil,
		FilteredOut: mg.dropped, Skipped: mg.skips.n, Took: time.Since(checkStart)}
	c.rep.planned(summary)
	if plan.Duplicates > 0 && req.Dedupe == client.DedupeRefuse {
		return c.fail(exitUsage, "migrate: %d items name a key an earlier item names too (listed above); nothing was enqueued (remove them, or pass --dedupe last to upload the last entry of each key)",
			plan.Duplicates)
	}
	if plan.Invalid > 0 && !*f.skipInvalid {
		return c.fail(exitUsage, "migrate: %d invalid items; nothing was enqueued (fix them, or pass --skip-invalid to enqueue the %d valid ones)",
			plan.Invalid, plan.Valid)
	}
	if *f.dryRun {
		return c.rep.dryRun(summary)
	}

	// A window that the items exceed needs the volume, where the fleet reads the feed file.
	if *f.window > 0 && int64(*f.window) < plan.Valid {
		if *f.volumeRoot == "" {
			return c.fail(exitUsage, "migrate: %d items are more than --window %d: give --volume-root (or PARTFLOW_VOLUME_ROOT) so the fleet can read them from the shared volume, or --window 0 to write them all into Redis now",
				plan.Valid, *f.window)
		}
		root, err := os.OpenRoot(*f.volumeRoot)
		if err != nil {
			return c.fail(exitUsage, "migrate: --volume-root: %v", err)
		}
		mg.closers = append(mg.closers, root.Close)
		req.Window, req.FeedVolume = *f.window, root
	}

	// Pass 2: enqueue.
	pf, closeAll, code := c.connect(ctx)
	if code != 0 {
		return code
	}
	defer closeAll()
	mg.skips.frozen = true
	req.OnInvalid = nil // reported by the first pass
	req.SkipInvalid = true
	req.Progress = c.rep.enqueueProgress(plan.Valid) // Migrate's last call has Sealed set
	res, err := pf.Migrate(ctx, *req)
	c.rep.enqueueResult(res)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted after %d items; run the same command again to carry on", res.Items)
		}
		return c.fail(exitCodeOf(err), "migrate: %v", err)
	}
	if res.Invalid > plan.Invalid {
		// Only a directory that changed between the passes gets here.
		fmt.Fprintf(c.stderr, "enqueuer: migrate: %d items became invalid after the first pass and were left out\n",
			res.Invalid-plan.Invalid)
	}
	return c.afterEnqueue(ctx, pf, mg, res, plan.Bytes)
}

// afterEnqueue reports an enqueued migration and, with --wait, waits for it to finish (at
// most --timeout); knownBytes is the planned total, 0 when unknown.
func (c *command) afterEnqueue(ctx context.Context, pf *client.Client, mg *migration, res client.MigrateResult, knownBytes int64) int {
	f := mg.flags
	c.rep.enqueued(res)
	if !*f.wait {
		return c.rep.migrationEnqueued(res.ID)
	}
	waitCtx := ctx
	if *f.timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, *f.timeout)
		defer cancel()
	}
	return c.rep.finish(c.finishMigration(waitCtx, pf, res.ID, knownBytes))
}

// exitCodeOf maps an error to an exit code: invalid input is a usage error.
func exitCodeOf(err error) int {
	if errors.Is(err, client.ErrInvalid) {
		return exitUsage
	}
	return exitRuntime
}

// skipList counts the directory entries a walk leaves out and reports each. Only the first
// pass records them.
type skipList struct {
	n      int64
	frozen bool
	rep    reporter
}

func (s *skipList) add(path, reason string) {
	if s.frozen {
		return
	}
	s.n++
	s.rep.skipped(path, reason)
}
