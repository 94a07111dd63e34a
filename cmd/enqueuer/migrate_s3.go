package main

import (
	"context"

	"github.com/partflow/partflow/client"
)

// migrateListed is migrate --source s3://bucket/prefix/: nothing is listed here (the
// enqueuer has no source store credentials); the migration is created as a fed one whose
// feeder, in the fleet, lists the prefix after its checkpoint, applies the filters and
// creates the uploads a window at a time. Running the same command again carries on the same
// migration (its ID derives from the bucket, the prefix, the source prefix and the filters).
func (c *command) migrateListed(ctx context.Context, mg *migration) int {
	f, req := mg.flags, &mg.req
	prefix, err := client.NormalizeS3Prefix(*f.dir)
	if err != nil {
		return c.fail(exitUsage, "migrate: --source: %v", err)
	}
	req.SourcePrefix, req.Window = prefix, *f.window
	req.Source = prefix
	if mg.filter != nil {
		req.Filter = client.ListingFilter(mg.filter.Config())
		req.Source += ";" + mg.filterID
	}
	if req.ID == "" {
		req.ID = client.DeriveMigrationID(req.Bucket, req.Prefix, req.Source)
	}
	c.rep.planning()
	c.rep.planned(planSummary{ID: req.ID, Source: req.Source, Filtered: mg.filter != nil, Listing: prefix})
	pf, closeAll, err := c.connect(ctx)
	if err != nil {
		return c.fail(exitRuntime, "%v", err)
	}
	defer closeAll()
	res, err := pf.Migrate(ctx, *req)
	c.rep.enqueueResult(res)
	if err != nil {
		return c.fail(exitCodeOf(err), "migrate: %v", err)
	}
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
	return c.rep.finish(c.finishMigration(waitCtx, pf, res.ID, 0))
}
