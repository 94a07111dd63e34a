package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/partflow/partflow/client"
)

func newExampleRedis(s *exampleStack) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.RedisAddr, Password: s.RedisPassword})
}

// A pipeline migrates a directory of the shared volume, waits for it and reports every
// failed upload. Running the same code again carries on the same migration: what is done or
// in flight is not enqueued again. The example runs against its own redis-server, versitygw
// and worker (startExampleStack); in production rdb is your Redis and the workers run apart.
func ExampleClient_Migrate() {
	stack, err := startExampleStack()
	if err != nil {
		log.Fatal(err)
	}
	defer stack.Stop()

	ctx := context.Background()
	rdb := newExampleRedis(stack) // redis.NewClient(&redis.Options{Addr: "redis:6379"})
	defer rdb.Close()
	pf, err := client.New(rdb, client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer pf.Close()

	res, err := pf.Migrate(ctx, client.MigrateRequest{
		Bucket: "archive",
		Prefix: "2024/",
		Source: "dir:exports/2024", // with bucket and prefix, derives the migration ID
		// Any sequence of items (an iter.Seq2), from a database say; sources are paths
		// relative to the workers' volume root (or URLs).
		Items: client.ItemsOf(
			client.MigrationItem{Source: "exports/2024/a.csv", Key: "a.csv"},
			client.MigrationItem{Source: "exports/2024/b.csv", Key: "b.csv"},
			client.MigrationItem{Source: "exports/2024/sub/c.csv", Key: "sub/c.csv"},
		),
		Priority:     client.PriorityLow,
		SkipExisting: true,
	})
	if err != nil {
		log.Fatal(err) // run it again to carry on
	}
	fmt.Printf("%d uploads enqueued\n", res.Items)

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	m, err := pf.WaitMigration(ctx, res.ID, nil) // or a func(client.Migration) to show progress
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d/%d uploads completed, %d failed, %d bytes\n", m.Completed, m.Total, m.Failed, m.BytesDone)
	for f, err := range pf.Failures(ctx, res.ID) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("failed: %s/%s: %s\n", f.Bucket, f.Key, f.Error)
	}
	// Output:
	// 3 uploads enqueued
	// 3/3 uploads completed, 0 failed, 18 bytes
}
