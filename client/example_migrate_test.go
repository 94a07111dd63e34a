package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/client"
)

// A pipeline migrates a directory of the shared volume, waits for it and reports every
// failed upload. Running the same code again carries on the same migration: what is done or
// in flight is not enqueued again. (TestMigrateWaitAndReport runs these steps against real
// servers; an example without output is only compiled.)
func ExampleClient_Migrate() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	pf, err := client.New(rdb, client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer pf.Close()

	volume, err := os.OpenRoot("/mnt/volume") // the enqueuer needs the volume only to walk it
	if err != nil {
		log.Fatal(err)
	}
	defer volume.Close()
	res, err := pf.Migrate(ctx, client.MigrateRequest{
		Bucket: "archive",
		Prefix: "2024/",
		Source: "dir:exports/2024", // with bucket and prefix, derives the migration ID
		Items:  client.WalkVolume(volume, "exports/2024", nil),
		// Or any sequence of items, from a database say:
		// Items: client.ItemsOf(client.MigrationItem{Source: "exports/a.csv", Key: "a.csv"}),
		Priority:     client.PriorityLow,
		SkipExisting: true,
	})
	if err != nil {
		log.Fatal(err) // run it again to carry on
	}
	fmt.Printf("migration %s: %d uploads enqueued (%.0f/s)\n", res.ID, res.Items, res.Rate())

	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	if _, err := pf.WaitMigration(ctx, res.ID, func(m client.Migration) {
		fmt.Printf("%d/%d uploads, %d bytes\n", m.Done+m.Failed, m.Total, m.BytesDone)
	}); err != nil {
		log.Fatal(err)
	}
	for f, err := range pf.Failures(ctx, res.ID) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("failed: %s/%s: %s\n", f.Bucket, f.Key, f.Error)
	}
}
