package tasks_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/report"
	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/tasks"
)

// files writes n small volume files (one PutObject each) and returns them as migration items
// with their SHA-256s.
func (e *env) files(t *testing.T, n int) ([]client.MigrationItem, map[string]string) {
	t.Helper()
	items := make([]client.MigrationItem, n)
	sums := make(map[string]string, n)
	for i := range n {
		name := fmt.Sprintf("c/f%03d.bin", i)
		sums[name] = e.writeFile(t, name, 1000+i)
		items[i] = client.MigrationItem{Source: name, Key: name}
	}
	return items, sums
}

// waitIdle waits until no task of any queue is pending, scheduled, retrying or running.
func (e *env) waitIdle(t *testing.T) {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	require.Eventually(t, func() bool {
		for q := range tasks.Queues() {
			info, err := insp.GetQueueInfo(q)
			if err != nil {
				continue // a queue nothing was enqueued to
			}
			if info.Pending+info.Active+info.Scheduled+info.Retry > 0 {
				return false
			}
		}
		return true
	}, time.Minute, 20*time.Millisecond, "waiting for every queue to drain")
}

// waitPaused waits until the migration is paused.
func (e *env) waitPaused(t *testing.T, id string) client.Migration {
	t.Helper()
	var m client.Migration
	require.Eventually(t, func() bool {
		var err error
		m, err = e.client.Migration(e.ctx, id)
		return err == nil && m.Paused()
	}, time.Minute, 20*time.Millisecond, "waiting for migration %s to pause", id)
	return m
}

// A destination that answers AccessDenied pauses the migration at the first failure: no
// upload is failed, no retry spent, the other uploads are held as they are; after the
// credentials are fixed, resume completes every upload.
func TestDestinationAccessDeniedPausesMigration(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpPutObject || r.Op == testenv.OpCreateMultipartUpload || r.Op == testenv.OpUploadPart {
			return testenv.Fault{Status: http.StatusForbidden, Code: "AccessDenied"}
		}
		return testenv.Fault{}
	})
	e.startWorker(t)
	items, sums := e.files(t, 40)
	res, err := e.client.Migrate(e.ctx, client.MigrateRequest{Bucket: e.bucket, Source: "denied", Items: client.ItemsOf(items...)})
	require.NoError(t, err)

	m := e.waitPaused(t, res.ID)
	e.waitIdle(t)
	m, err = e.client.Migration(e.ctx, res.ID)
	require.NoError(t, err)
	require.Contains(t, m.Pause.Reason, "access denied", "the pause names the destination's error")
	require.Zero(t, m.Failed, "no upload is failed for a destination-wide error")
	require.Equal(t, client.MigrationPaused, client.MigrationState(m))
	denied := e.proxy.CountStatus(testenv.OpPutObject, http.StatusForbidden)
	t.Logf("%d PUTs answered AccessDenied before the pause held the other %d uploads", denied, len(items)-denied)
	require.LessOrEqual(t, denied, 8, "only the tasks in flight at the first failure (4 worker slots) met the error")

	e.proxy.SetFault(nil)
	out, err := e.client.Resume(e.ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, len(items), out.Changed, "resume re-enqueues every held upload")
	m = e.waitMigration(t, res.ID)
	require.EqualValues(t, len(items), m.Completed, "after resume every upload completed (failed %d)", m.Failed)
	require.False(t, m.Paused())
	for name, sum := range sums {
		require.Equal(t, sum, e.objectSHA256(t, name), name)
	}
}

// --max-failures 5%: a migration whose sources are 10% missing is paused once more than 5%
// of its uploads failed, with the threshold as its reason; the uploads not reached stay
// planned, and resume (once the files exist) finishes the migration.
func TestMaxFailuresPercentPausesMigration(t *testing.T) {
	t.Parallel()
	e := setup(t)
	items, _ := e.files(t, 100)
	for i := 0; i < len(items); i += 10 {
		items[i].Source = fmt.Sprintf("c/missing%03d.bin", i) // 10 of 100 sources do not exist
	}
	mf, err := client.ParseMaxFailures("5%")
	require.NoError(t, err)
	res, err := e.client.Migrate(e.ctx, client.MigrateRequest{Bucket: e.bucket, Source: "tenpercent", Controls: mf,
		Items: client.ItemsOf(items...)})
	require.NoError(t, err)
	e.startWorker(t)

	m := e.waitPaused(t, res.ID)
	e.waitIdle(t)
	m, err = e.client.Migration(e.ctx, res.ID)
	require.NoError(t, err)
	t.Logf("paused: %s; %d completed, %d failed, %d of %d left", m.Pause.Reason, m.Completed, m.Failed,
		m.Total-m.Completed-m.Failed, m.Total)
	require.Contains(t, m.Pause.Reason, "max-failures", "status says why it is paused")
	require.Contains(t, client.MigrationStatusOf(m).PauseReason, "more than 5%")
	require.GreaterOrEqual(t, m.Failed, int64(6), "paused only past 5%% of 100")
	require.Less(t, m.Failed, int64(10), "paused before every missing source failed")
	require.False(t, m.Finished(), "the held uploads are not finished")

	for i := 0; i < len(items); i += 10 {
		e.writeFile(t, items[i].Source, 2000+i)
	}
	_, err = e.client.Resume(e.ctx, res.ID)
	require.NoError(t, err)
	m = e.waitMigration(t, res.ID)
	require.EqualValues(t, 100, m.Completed, "after resume every upload completed (failed %d)", m.Failed)
}

// pause holds a migration's uploads as they are (its tasks end without touching S3) and
// resume carries them on.
func TestPauseHoldsAndResumeContinues(t *testing.T) {
	t.Parallel()
	e := setup(t)
	items, sums := e.files(t, 20)
	res, err := e.client.Migrate(e.ctx, client.MigrateRequest{Bucket: e.bucket, Source: "held", Items: client.ItemsOf(items...)})
	require.NoError(t, err)
	paused, err := e.client.Pause(e.ctx, res.ID, "")
	require.NoError(t, err)
	require.True(t, paused)
	e.startWorker(t)
	e.waitIdle(t)
	require.Zero(t, e.proxy.Count(testenv.OpPutObject), "a paused migration sends nothing")
	m, err := e.client.Migration(e.ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, "paused by request", m.Pause.Reason)
	require.Zero(t, m.Completed+m.Failed, "its uploads are held as they were")

	_, err = e.client.Resume(e.ctx, res.ID)
	require.NoError(t, err)
	m = e.waitMigration(t, res.ID)
	require.EqualValues(t, len(items), m.Completed)
	for name, sum := range sums {
		require.Equal(t, sum, e.objectSHA256(t, name), name)
	}
}

// migrate --report-to: when the migration is finished the fleet writes its report (every
// upload, failed ones too) to the object, CSV for a .csv key.
func TestReportToWritesObject(t *testing.T) {
	t.Parallel()
	e := setup(t)
	items, _ := e.files(t, 30)
	items[7].Source = "c/missing.bin"
	reportTo := "s3://" + e.bucket + "/reports/run.csv"
	res, err := e.client.Migrate(e.ctx, client.MigrateRequest{Bucket: e.bucket, Source: "reported",
		Controls: client.MigrationControls{ReportTo: reportTo}, Items: client.ItemsOf(items...)})
	require.NoError(t, err)
	e.startWorker(t)
	e.waitMigration(t, res.ID)

	var m client.Migration
	require.Eventually(t, func() bool {
		m, err = e.client.Migration(e.ctx, res.ID)
		return err == nil && !m.ReportWritten.IsZero()
	}, time.Minute, 20*time.Millisecond, "waiting for the fleet to write the report of %s", res.ID)
	obj, err := e.direct.GetObject(e.ctx, e.bucket, "reports/run.csv", minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	rows, err := csv.NewReader(obj).ReadAll()
	require.NoError(t, err, "the report object is CSV")
	require.Equal(t, report.Header, rows[0])
	states := map[string]int{}
	keys := map[string]bool{}
	for _, r := range rows[1:] {
		states[r[5]]++
		keys[r[2]] = true
		if r[2] == items[7].Key {
			require.Contains(t, r[8], "missing.bin", "the failed upload's row says why")
		}
	}
	require.Len(t, keys, len(items), "one row per upload")
	require.Equal(t, map[string]int{string(state.Completed): 29, string(state.Failed): 1}, states)
	info, err := e.direct.StatObject(e.ctx, e.bucket, "reports/run.csv", minio.StatObjectOptions{})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(info.ContentType, "text/csv"), "content type %s", info.ContentType)
}

// sendRate waits until sending is under way, then measures the rate of request body bytes
// at the S3 proxy over a window of steady state.
func (e *env) sendRate(t *testing.T, window time.Duration) float64 {
	t.Helper()
	require.Eventually(t, func() bool { return e.proxy.BodyBytes() >= 6*mib }, time.Minute, 20*time.Millisecond,
		"waiting for the workers to send their first bytes")
	b0, t0 := e.proxy.BodyBytes(), time.Now()
	time.Sleep(window) // the measurement window itself, not a wait for a condition
	b1, t1 := e.proxy.BodyBytes(), time.Now()
	return float64(b1-b0) / t1.Sub(t0).Seconds()
}

// bigFiles writes n files of 6 MiB (two parts of a 5 MiB part size each).
func (e *env) bigFiles(t *testing.T, n int) []client.MigrationItem {
	t.Helper()
	items := make([]client.MigrationItem, n)
	for i := range n {
		name := fmt.Sprintf("big/f%02d.bin", i)
		e.writeFile(t, name, 6*mib+i)
		items[i] = client.MigrationItem{Source: name, Key: name}
	}
	return items
}

// Two workers under a 4 MiB/s fleet-wide cap (worker --fleet-bwlimit) send 4 MiB/s together,
// and a migration's own cap (migrate --bwlimit) holds for it likewise (±20%, measured at the
// S3 proxy over a five-second window).
func TestFleetBandwidthCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		fleet, perMigr int64
		want           float64
	}{
		{name: "fleet", fleet: 4 * mib, want: 4 * mib},
		{name: "migration", perMigr: 3 * mib, want: 3 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			items := e.bigFiles(t, 8)
			_, err := e.client.Migrate(e.ctx, client.MigrateRequest{Bucket: e.bucket, Source: "capped", PartSize: 5 * mib,
				Controls: client.MigrationControls{BandwidthLimit: tc.perMigr}, Items: client.ItemsOf(items...)})
			require.NoError(t, err)
			for range 2 {
				e.startWorker(t, func(c *worker.Config) { c.FleetBandwidth = tc.fleet; c.ShutdownTimeout = time.Second })
			}
			got := e.sendRate(t, 5*time.Second)
			t.Logf("%s cap %.1f MiB/s: two workers sent %.2f MiB/s together", tc.name, tc.want/mib, got/mib)
			require.InEpsilon(t, tc.want, got, 0.2, "the fleet sends at the cap (%.2f MiB/s)", got/mib)
		})
	}
}
