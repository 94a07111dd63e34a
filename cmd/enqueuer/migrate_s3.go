package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/cli"
	"github.com/partflow/partflow/internal/filter"
	"github.com/partflow/partflow/internal/s3source"
	"github.com/partflow/partflow/storage"
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
	if *f.dryRun {
		return c.dryRunListed(ctx, mg, prefix)
	}
	c.rep.planned(planSummary{ID: req.ID, Source: req.Source, Filtered: mg.filter != nil, Listing: prefix})
	pf, closeAll, code := c.connect(ctx)
	if code != 0 {
		return code
	}
	defer closeAll()
	res, err := pf.Migrate(ctx, *req)
	c.rep.enqueueResult(res)
	if err != nil {
		return c.fail(exitCodeOf(err), "migrate: %v", err)
	}
	return c.afterEnqueue(ctx, pf, mg, res, 0)
}

// sourceStoreFlags are the source store's, for migrate --dry-run of an S3 prefix only (the
// real listing runs in the fleet, with the workers' own flags).
type sourceStoreFlags struct {
	endpoint, region, bucketLookup, caBundle *string
}

func defineSourceStoreFlags(fs *cli.Flags) sourceStoreFlags {
	return sourceStoreFlags{
		endpoint: fs.StringEnv("source-s3-endpoint", "PARTFLOW_SOURCE_S3_ENDPOINT", "",
			"with --dry-run of --source s3://bucket/prefix/: the source store to list it from here (credentials from "+
				s3source.EnvAccessKey+"/"+s3source.EnvSecretKey+" or "+s3source.EnvProfile+")"),
		region: fs.StringEnv("source-s3-region", "PARTFLOW_SOURCE_S3_REGION", "us-east-1", "region of the source store (with --source-s3-endpoint)"),
		bucketLookup: fs.ChoiceEnv("source-s3-bucket-lookup", "PARTFLOW_SOURCE_S3_BUCKET_LOOKUP", "auto", []string{"auto", "path", "dns"},
			"how the source store's buckets are addressed (with --source-s3-endpoint)"),
		caBundle: fs.StringEnv("source-s3-ca-bundle", "PARTFLOW_SOURCE_S3_CA_BUNDLE", "",
			"PEM file of CA certificates to trust for an https source store (with --source-s3-endpoint)"),
	}
}

// config is the source store's storage configuration; errors name the variable.
func (f sourceStoreFlags) config() (storage.Config, error) {
	cfg := storage.Config{Endpoint: *f.endpoint, Region: *f.region, BucketLookup: *f.bucketLookup, CABundle: *f.caBundle}
	err := s3source.Credentials(os.Getenv, &cfg)
	if errors.Is(err, s3source.ErrNoCredentials) {
		return cfg, fmt.Errorf("--source-s3-endpoint (PARTFLOW_SOURCE_S3_ENDPOINT) needs the source store's credentials: %s and %s, or %s",
			s3source.EnvAccessKey, s3source.EnvSecretKey, s3source.EnvProfile)
	}
	if err != nil {
		return cfg, err
	}
	return cfg, nil
}

// dryRunListed is migrate --dry-run of an S3 prefix with a source store: it lists the prefix
// from here, as the feeder would, and shows what the filters keep.
func (c *command) dryRunListed(ctx context.Context, mg *migration, prefix string) int {
	f, req := mg.flags, &mg.req
	cfg, err := f.sourceStore.config()
	if err != nil {
		return c.fail(exitUsage, "migrate: %v", err)
	}
	store, err := storage.NewMinio(cfg)
	if err != nil {
		return c.fail(exitUsage, "migrate: source store (--source-s3-*, PARTFLOW_SOURCE_AWS_*): %v", err)
	}
	defer store.CloseIdleConnections()
	lister, err := s3source.NewLister(store, prefix, 0)
	if err != nil {
		return c.fail(exitUsage, "migrate: --source: %v", err)
	}
	begin := time.Now()
	sum := planSummary{ID: req.ID, Source: req.Source, DryRun: true, Filtered: mg.filter != nil}
	for e, err := range lister.List(ctx, "") {
		if err != nil {
			return c.fail(exitRuntime, "migrate: listing %s: %v", prefix, err)
		}
		if mg.filter != nil {
			if ok, _ := mg.filter.Keep(filter.Entry{Path: e.Key, Size: e.Size, ModTime: e.ModTime}); !ok {
				sum.FilteredOut++
				continue
			}
		}
		sum.Plan.Valid++
		sum.Plan.Bytes += e.Size
		if len(sum.Plan.FirstKeys) < *f.firstKeys {
			sum.Plan.FirstKeys = append(sum.Plan.FirstKeys, req.Bucket+"/"+req.Prefix+e.Key)
		}
	}
	sum.Took = time.Since(begin)
	c.rep.planned(sum)
	return c.rep.dryRun(sum)
}
