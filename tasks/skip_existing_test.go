package tasks_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
)

func TestStartSkipsExistingObjects(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// Objects already in the bucket, each with a content type the upload would not set.
	existing := func(key string, body []byte) {
		_, err := e.direct.PutObject(e.ctx, e.bucket, key, bytes.NewReader(body), int64(len(body)),
			minio.PutObjectOptions{ContentType: "text/x-existing"})
		require.NoError(t, err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(e.dir, name))
		require.NoError(t, err)
		return b
	}
	e.writeFile(t, "same", 1000)
	existing("same", read("same"))
	e.writeFile(t, "changed", 1001)
	changed := read("changed")
	changed[0] ^= 0xff // same size, other content: the MD5 tells
	existing("changed", changed)
	e.writeFile(t, "resized", 1002)
	existing("resized", read("resized")[:500])
	e.writeFile(t, "big", 6*mib) // two parts of 5 MiB, no fingerprint: cannot be verified, so uploaded
	big := read("big")
	big[0] ^= 0xff
	existing("big", big)
	e.writeFile(t, "new", 1003)

	names := []string{"same", "changed", "resized", "big", "new"}
	var items []client.MigrationItem
	for _, n := range names {
		items = append(items, client.MigrationItem{Source: n, Key: n})
	}
	res, err := e.client.Migrate(e.ctx, client.MigrateRequest{ID: "skip-test", Bucket: e.bucket, Items: client.ItemsOf(items...),
		SkipExisting: true, PartSize: 5 * mib})
	require.NoError(t, err)
	require.EqualValues(t, len(names), res.Created)

	heads := e.proxy.Count(testenv.OpHeadObject)
	puts := e.proxy.Count(testenv.OpPutObject)
	skipped := map[string]bool{}
	for _, n := range names {
		u := e.plan(t, state.DeriveUploadID("skip-test", e.bucket, n, n))
		skipped[n] = u.Skipped
		if u.Skipped {
			require.Equal(t, state.Completed, u.State, n)
			require.NotEmpty(t, u.ETag, n)
		}
	}
	require.Equal(t, map[string]bool{"same": true, "changed": false, "resized": false, "big": false, "new": false}, skipped)
	require.Equal(t, heads+len(names), e.proxy.Count(testenv.OpHeadObject), "one HEAD per upload")
	require.Equal(t, puts+3, e.proxy.Count(testenv.OpPutObject), "changed, resized and new were put")

	for _, n := range []string{"same"} {
		info, err := e.direct.StatObject(e.ctx, e.bucket, n, minio.StatObjectOptions{})
		require.NoError(t, err)
		require.Equal(t, "text/x-existing", info.ContentType, "%s was left alone", n)
	}
	sum := sha256.Sum256(read("changed"))
	require.Equal(t, hex.EncodeToString(sum[:]), e.objectSHA256(t, "changed"), "the changed object was replaced")

	m, err := e.store.GetMigration(e.ctx, "skip-test")
	require.NoError(t, err)
	require.EqualValues(t, 1, m.Skipped)
	require.EqualValues(t, 1000, m.BytesSkipped)
	require.EqualValues(t, 4, m.Completed, "three puts and one skip completed (big is uploading)")
}

// An object partflow wrote carries its source's fingerprint; --skip-existing compares it, so a
// file rewritten with other content of the same size (even with its mtime put back) is
// uploaded again, multipart or single PUT, and an unchanged one is skipped.
func TestSkipExistingUploadsChangedContentOfSameSize(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.startWorker(t)
	sizes := map[string]int{"multi": 12 * mib, "single": 1000}
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	write := func(seed byte) map[string]string {
		sums := map[string]string{}
		for name, size := range sizes {
			data := bytes.Repeat([]byte{seed, byte(size)}, size/2)
			path := filepath.Join(e.dir, name)
			require.NoError(t, os.WriteFile(path, data, 0o644))
			require.NoError(t, os.Chtimes(path, mtime, mtime))
			sum := sha256.Sum256(data)
			sums[name] = hex.EncodeToString(sum[:])
		}
		return sums
	}
	migrate := func(id string) map[string]state.Upload {
		var items []client.MigrationItem
		for name := range sizes {
			items = append(items, client.MigrationItem{Source: name, Key: name})
		}
		_, err := e.client.Migrate(e.ctx, client.MigrateRequest{ID: id, Bucket: e.bucket,
			Items: client.ItemsOf(items...), SkipExisting: true, PartSize: 5 * mib})
		require.NoError(t, err)
		out := map[string]state.Upload{}
		for name := range sizes {
			u := e.wait(t, state.DeriveUploadID(id, e.bucket, name, name))
			require.Equal(t, state.Completed, u.State, "%s in %s: %s", name, id, u.Error)
			out[name] = u
		}
		return out
	}

	first := write(1)
	for name, u := range migrate("first") {
		require.False(t, u.Skipped, name)
		require.Equal(t, first[name], e.objectSHA256(t, name))
		info, err := e.direct.StatObject(e.ctx, e.bucket, name, minio.StatObjectOptions{})
		require.NoError(t, err)
		require.Equal(t, u.Fingerprint, info.UserMetadata["Partflow-Fingerprint"], "%s carries its fingerprint", name)
	}
	for name, u := range migrate("unchanged") {
		require.True(t, u.Skipped, "%s is unchanged: skipped", name)
	}
	second := write(2) // same sizes, same mtime, other bytes
	for name, u := range migrate("changed") {
		require.False(t, u.Skipped, "%s changed: uploaded again", name)
		require.Equal(t, second[name], e.objectSHA256(t, name), "%s has the new content", name)
	}
}
