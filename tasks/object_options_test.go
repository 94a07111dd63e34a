package tasks_test

import (
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// TestObjectOptionsReachS3: a migration's options (the enqueuer's flags) and an item's own
// (a manifest line's), which override them, reach S3 as headers on CreateMultipartUpload and
// PutObject; the SSE-C key (named on the record, read by the worker from its key directory)
// goes with every part, the Complete and the verifying HEAD as well.
func TestObjectOptionsReachS3(t *testing.T) {
	t.Parallel()
	e := setup(t)
	keyDir := t.TempDir()
	key := []byte("0123456789abcdef0123456789abcdef")
	require.NoError(t, os.WriteFile(filepath.Join(keyDir, "team-key"), []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600))
	st, err := storage.NewMinio(storage.Config{Endpoint: e.proxy.URL(), AccessKey: e.s3.AccessKey,
		SecretKey: e.s3.SecretKey, MaxRetries: 1, SSECKeyDir: keyDir})
	require.NoError(t, err)
	t.Cleanup(st.CloseIdleConnections)
	e.startWorker(t, func(c *worker.Config) { c.S3 = st })

	e.writeFile(t, "in/big.bin", 2*5*mib+1)
	e.writeFile(t, "in/small.csv", 100)
	e.writeFile(t, "in/s3.json", 10)
	flags := client.ObjectOptions{SSE: storage.SSEC, SSECKey: "team-key", StorageClass: "STANDARD_IA",
		Tags: map[string]string{"team": "data", "env": "prod"}, CacheControl: "max-age=3600"}
	item := client.ObjectOptions{SSE: storage.SSEKMS, SSEKMSKeyID: "arn:aws:kms:us-east-1:111122223333:key/abc",
		StorageClass: "GLACIER_IR", ContentDisposition: "attachment"}
	res, err := e.client.Migrate(e.ctx, client.MigrateRequest{Bucket: e.bucket, Source: "test", Options: flags,
		PartSize: storage.MinPartSize, Items: client.ItemsOf(
			client.MigrationItem{Source: "in/big.bin", Key: "big.bin"},
			client.MigrationItem{Source: "in/small.csv", Key: "small.csv", Options: item},
			client.MigrationItem{Source: "in/s3.json", Key: "s3.json", Options: client.ObjectOptions{SSE: storage.SSES3}},
		)})
	require.NoError(t, err)
	m := e.waitMigration(t, res.ID)
	require.EqualValues(t, 3, m.Completed, "every upload completed (failed %d)", m.Failed)

	keyMD5 := md5.Sum(key)
	sseC := func(t *testing.T, what string, h http.Header) {
		t.Helper()
		require.Equal(t, "AES256", h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm"), what)
		require.Equal(t, base64.StdEncoding.EncodeToString(key), h.Get("X-Amz-Server-Side-Encryption-Customer-Key"), what)
		require.Equal(t, base64.StdEncoding.EncodeToString(keyMD5[:]), h.Get("X-Amz-Server-Side-Encryption-Customer-Key-Md5"), what)
	}

	// The multipart upload: the flags' options.
	creates := e.proxy.Headers(testenv.OpCreateMultipartUpload)
	require.Len(t, creates, 1)
	sseC(t, "create", creates[0])
	require.Equal(t, "STANDARD_IA", creates[0].Get("X-Amz-Storage-Class"))
	require.ElementsMatch(t, []string{"env=prod", "team=data"}, splitTags(creates[0].Get("X-Amz-Tagging")))
	require.Equal(t, "max-age=3600", creates[0].Get("Cache-Control"))
	require.Equal(t, "application/octet-stream", creates[0].Get("Content-Type"))
	parts := e.proxy.Headers(testenv.OpUploadPart)
	require.Len(t, parts, 3)
	for _, h := range parts {
		sseC(t, "part", h)
	}
	for _, h := range e.proxy.Headers(testenv.OpCompleteMultipartUpload) {
		sseC(t, "complete", h)
	}
	heads := 0
	for _, x := range e.proxy.Exchanges() {
		if x.Op == testenv.OpHeadObject && x.Key == "big.bin" {
			heads++
			sseC(t, "verifying HEAD", x.Header)
		}
	}
	require.NotZero(t, heads, "the finalizer verified the object")

	// The single PUT: the item's options win where it sets them (SSE, storage class), the
	// flags' stay where it does not (tags, Cache-Control).
	var puts []http.Header
	for _, x := range e.proxy.Exchanges() {
		switch {
		case x.Op == testenv.OpPutObject && x.Key == "small.csv":
			puts = append(puts, x.Header)
		case x.Op == testenv.OpPutObject && x.Key == "s3.json":
			require.Equal(t, "AES256", x.Header.Get("X-Amz-Server-Side-Encryption"), "SSE-S3")
			require.Empty(t, x.Header.Get("X-Amz-Server-Side-Encryption-Customer-Key"))
			require.Equal(t, "application/json", x.Header.Get("Content-Type"))
		}
	}
	require.Len(t, puts, 1)
	require.Equal(t, "aws:kms", puts[0].Get("X-Amz-Server-Side-Encryption"))
	require.Equal(t, "arn:aws:kms:us-east-1:111122223333:key/abc", puts[0].Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"))
	require.Empty(t, puts[0].Get("X-Amz-Server-Side-Encryption-Customer-Key"), "the item's SSE replaces SSE-C")
	require.Equal(t, "GLACIER_IR", puts[0].Get("X-Amz-Storage-Class"))
	require.Equal(t, "attachment", puts[0].Get("Content-Disposition"))
	require.Equal(t, "max-age=3600", puts[0].Get("Cache-Control"))
	require.ElementsMatch(t, []string{"env=prod", "team=data"}, splitTags(puts[0].Get("X-Amz-Tagging")))
	require.Equal(t, "text/csv", puts[0].Get("Content-Type"), "from the built-in table")

	// Only the key's name is on the record.
	ids, err := e.store.MigrationUploads(e.ctx, res.ID, 0, 10)
	require.NoError(t, err)
	for _, id := range ids {
		raw, err := e.rdb.HGetAll(e.ctx, "partflow:{"+id.Migration+"}:upload:"+id.String()).Result()
		require.NoError(t, err)
		require.NotEmpty(t, raw)
		for f, v := range raw {
			require.NotContains(t, v, base64.StdEncoding.EncodeToString(key), "field %s", f)
			require.NotContains(t, v, string(key), "field %s", f)
		}
	}
}

// TestSSECKeyMissingFailsUpload: an upload naming a key the worker does not have fails with
// that reason instead of retrying.
func TestSSECKeyMissingFailsUpload(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.writeFile(t, "f", 10)
	pid, err := e.client.Put(e.ctx, client.PutRequest{Source: "f", Bucket: e.bucket, Key: "k",
		Options: client.ObjectOptions{SSE: storage.SSEC, SSECKey: "nope"}})
	require.NoError(t, err)
	id := state.UploadID(pid)
	err = e.handlers.HandleStartTask(e.ctx, tasks.NewStartTask(id))
	require.ErrorIs(t, err, asynq.SkipRetry)
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Failed, u.State)
	require.Contains(t, u.Error, `SSE-C key "nope"`)
}

func splitTags(s string) []string { return strings.Split(s, "&") }
