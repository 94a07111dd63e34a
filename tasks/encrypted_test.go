package tasks_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/listing"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/storage"
)

// TestEncryptedBucketMigration migrates a directory of mixed sizes through a proxy that
// answers like an encrypted bucket (random part and object ETags), with and without a server
// that takes additional checksums: every object arrives byte-identical, and no part or object
// is sent twice.
func TestEncryptedBucketMigration(t *testing.T) {
	t.Parallel()
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("refuseChecksums=%v", refuse), func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.proxy.EmulateEncryptedBucket(e.s3.AccessKey, e.s3.SecretKey)
			if refuse {
				e.proxy.RefuseChecksums()
			}
			e.startWorker(t)
			sizes := []int{0, 1, 5*mib - 1, 5*mib + 1, 40 * mib}
			sums := map[string]string{}
			for _, size := range sizes {
				sums[fmt.Sprintf("%d.bin", size)] = e.writeFile(t, fmt.Sprintf("dir/%d.bin", size), size)
			}
			root, err := os.OpenRoot(e.dir)
			require.NoError(t, err)
			t.Cleanup(func() { _ = root.Close() })
			res, err := e.client.Migrate(e.ctx, client.MigrateRequest{Bucket: e.bucket, Prefix: "enc/", Source: "dir:dir",
				Items: listing.WalkVolume(root, "dir", nil), PartSize: storage.MinPartSize})
			require.NoError(t, err)
			m := e.waitMigration(t, res.ID)
			require.EqualValues(t, len(sizes), m.Completed, "every upload completed (failed %d)", m.Failed)

			for name, sum := range sums {
				require.Equal(t, sum, e.objectSHA256(t, "enc/"+name), name)
			}
			sent := map[string]int{}
			for _, x := range e.proxy.Exchanges() {
				switch {
				case x.Op == testenv.OpUploadPart && x.Status == 200:
					sent[fmt.Sprintf("%s part %d", x.Key, x.PartNumber)]++
				case x.Op == testenv.OpPutObject && x.Status == 200:
					sent[x.Key]++
				}
			}
			require.Len(t, sent, 3+2+8, "3 single PUTs, 2 + 8 parts")
			for what, n := range sent {
				require.Equal(t, 1, n, "%s was sent %d times", what, n)
			}
			withChecksum := 0
			for _, h := range e.proxy.Headers(testenv.OpUploadPart) {
				require.NotEmpty(t, h.Get("Content-Md5"), "every part carries Content-MD5")
				if h.Get("X-Amz-Checksum-Crc64nvme") != "" {
					withChecksum++
				}
			}
			if refuse {
				require.True(t, e.storage.ChecksumsOff(), "the refusal was detected")
				require.LessOrEqual(t, withChecksum, 0, "after the refusal no part carries a checksum")
			} else {
				require.Equal(t, 10, withChecksum, "every part carries a CRC-64/NVME")
			}
			e.requireNoMultipart(t)
		})
	}
}

// TestEncryptedBucketCorruptPartIsRetried: integrity does not rest on ETags. A byte flipped
// on the wire is refused by the server (Content-MD5, CRC-64/NVME) even though the bucket's
// ETags say nothing, and the part is sent again.
func TestEncryptedBucketCorruptPartIsRetried(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.proxy.EmulateEncryptedBucket(e.s3.AccessKey, e.s3.SecretKey)
	var corrupted atomic.Int32
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		return testenv.Fault{CorruptBody: r.Op == testenv.OpUploadPart && r.PartNumber == 2 && corrupted.Add(1) <= 1}
	})
	e.startWorker(t)
	sum := e.writeFile(t, "f", 3*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.wait(t, id)
	require.Equal(t, state.Completed, u.State, u.Error)
	require.Equal(t, sum, e.objectSHA256(t, "k"))
	require.Equal(t, 1, e.proxy.CountStatus(testenv.OpUploadPart, 400), "the corrupted part was refused")
	require.Equal(t, 3, e.proxy.CountStatus(testenv.OpUploadPart, 200))
}

// TestEncryptedBucketPartSentTwiceUsesLatestETag: a part uploaded again (a redelivered task
// whose first run recorded it) has a new ETag on an encrypted bucket; Complete refuses the
// recorded one and the finalizer takes the listed ETag of a part with the recorded size and
// checksum.
func TestEncryptedBucketPartSentTwiceUsesLatestETag(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.proxy.EmulateEncryptedBucket(e.s3.AccessKey, e.s3.SecretKey)
	sum := e.writeFile(t, "f", 2*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.plan(t, id)
	require.NoError(t, e.runPart(id, 1))
	require.NoError(t, e.runPart(id, 2))
	// The same bytes of part 1 again, as a task whose record was lost in flight would send them.
	buf := make([]byte, 5*mib)
	require.NoError(t, e.volume.ReadAt(e.ctx, "f", sourceInfo(u), 0, buf))
	again, err := e.storage.UploadPart(e.ctx, storage.Object{Bucket: e.bucket, Key: "k"}, u.S3UploadID, 1, buf, storage.ObjectOptions{})
	require.NoError(t, err)
	recorded, err := e.store.PartETags(e.ctx, id)
	require.NoError(t, err)
	require.NotEqual(t, again.ETag, recordedParts(u, recorded)[0].ETag, "the bucket gave the same bytes a new ETag")

	require.NoError(t, e.runFinalize(id))
	u, err = e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Completed, u.State, u.Error)
	require.Equal(t, sum, e.objectSHA256(t, "k"))
	require.Equal(t, 1, e.proxy.CountStatus(testenv.OpCompleteMultipartUpload, 400), "the stale ETag was refused once")
}

// TestFinalizeCompleteTimesOutWhileServerCompletes: the Complete's answer comes after the
// finalizer gave up waiting, and the object becomes visible only a while after that (a retry
// meanwhile would get NoSuchUpload from MinIO or AWS). The finalizer verifies with StatObject
// until the object appears, and the upload ends completed, not failed.
func TestFinalizeCompleteTimesOutWhileServerCompletes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.proxy.EmulateMinIOComplete()
	e.proxy.HideCompletedObjects(2 * time.Second)
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpCompleteMultipartUpload && r.Seq == 1 {
			return testenv.Fault{DelayResponse: 3 * time.Second}
		}
		return testenv.Fault{}
	})
	e.handlers.SetCompleteTimeout(300 * time.Millisecond)
	sum := e.writeFile(t, "f", 2*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	e.plan(t, id)
	require.NoError(t, e.runPart(id, 1))
	require.NoError(t, e.runPart(id, 2))

	// Run the finalizer as asynq would: again after an error, until the upload is terminal.
	var u state.Upload
	for range 3 {
		err := e.runFinalize(id)
		var gerr error
		u, gerr = e.store.GetUpload(e.ctx, id)
		require.NoError(t, gerr)
		if u.State.Terminal() {
			break
		}
		require.Error(t, err, "a finalizer that left the upload %s must return an error", u.State)
	}
	require.Equal(t, state.Completed, u.State, u.Error)
	require.Equal(t, sum, e.objectSHA256(t, "k"))
}

// waitMigration polls until the migration is finished.
func (e *env) waitMigration(t *testing.T, id string) client.Migration {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m, err := e.client.Migration(e.ctx, id)
		require.NoError(t, err)
		if m.Finished() {
			return m
		}
		require.True(t, time.Now().Before(deadline), "waiting for migration %s to finish: %d of %d done, %d failed",
			id, m.Completed, m.Total, m.Failed)
		time.Sleep(50 * time.Millisecond)
	}
}
