package monitor_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/monitor"
	"github.com/partflow/partflow/internal/state"
)

func decode(t *testing.T, body string, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(body), v), body)
}

var uploadRow = regexp.MustCompile(`<tr data-row="[^"]+" data-upload=`)

// A migration of 10,000 uploads: every page and API answer holds one bounded page, the pager
// reaches the last one, and the failed filter pages through the failed set.
func TestTenThousandUploads(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("creates 10,000 upload records")
	}
	b := setup(t)
	const n = 10_000
	mid, ids := b.newMigration(t, n)
	for _, id := range ids[:120] {
		_, err := b.store.Fail(b.ctx, id, "source vanished: "+id.Name)
		require.NoError(t, err)
	}

	page := b.get(t, "/migrations/"+mid)
	require.Len(t, uploadRow.FindAllString(page, -1), monitor.DefaultPageSize)
	require.Contains(t, page, "1–50 of 10000 · page 1 of 200")
	require.Contains(t, page, fmt.Sprintf(`href="/migrations/%s?offset=9950"`, mid), "a link to the last page")
	require.Less(t, len(page), 200_000, "one page of uploads stays small")

	last := b.get(t, "/migrations/"+mid+"?offset=9950")
	require.Len(t, uploadRow.FindAllString(last, -1), 50)
	require.Contains(t, last, "9951–10000 of 10000 · page 200 of 200")

	big := b.get(t, "/migrations/"+mid+"?limit=100000")
	require.Len(t, uploadRow.FindAllString(big, -1), monitor.MaxPageSize, "the page size is capped")

	var d monitor.MigrationDetail
	decode(t, b.get(t, "/api/migrations/"+mid+"?limit=1000000"), &d)
	require.Len(t, d.Uploads, monitor.MaxPageSize)
	require.Equal(t, monitor.Page{Offset: 0, Limit: monitor.MaxPageSize, Total: n}, d.Page)
	require.EqualValues(t, n, d.Migration.Total)
	require.EqualValues(t, 120, d.Migration.Failed)
	require.Equal(t, "running", d.Migration.State)

	decode(t, b.get(t, "/api/migrations/"+mid+"?offset=9990"), &d)
	require.Len(t, d.Uploads, 10)
	decode(t, b.get(t, "/api/migrations/"+mid+"?offset=20000"), &d)
	require.Empty(t, d.Uploads)
	require.NotNil(t, d.Uploads, "an empty page is [] in JSON")

	decode(t, b.get(t, "/api/migrations/"+mid+"?state=failed&limit=100"), &d)
	require.Equal(t, "failed", d.Filter)
	require.Len(t, d.Uploads, 100)
	require.EqualValues(t, 120, d.Total)
	for _, u := range d.Uploads {
		require.Equal(t, "failed", u.State)
		require.True(t, strings.HasPrefix(u.Error, "source vanished: "), u.Error)
	}
	failedPage := b.get(t, "/migrations/"+mid+"?state=failed&offset=100")
	require.Len(t, uploadRow.FindAllString(failedPage, -1), 20)
	require.Contains(t, failedPage, "source vanished")
	require.Contains(t, failedPage, fmt.Sprintf(`href="/migrations/%s?state=failed"`, mid), "the pager keeps the filter")
}

// An upload of 10,000 parts: its page shows one page of parts, read by part number.
func TestTenThousandParts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, ids := b.newMigration(t, 1)
	id := ids[0]
	const parts = 10_000
	b.plan(t, id, parts)
	for _, n := range []int{1, 2, 150, parts} {
		out, err := b.store.RecordPart(b.ctx, id, b.fence(t, id), n, fmt.Sprintf("etag-%d", n), 5<<20)
		require.NoError(t, err)
		require.Equal(t, state.ResultRecorded, out.Result)
	}

	var d monitor.UploadDetail
	decode(t, b.get(t, "/api/uploads/"+id.String()), &d)
	require.Equal(t, monitor.Page{Offset: 0, Limit: monitor.DefaultPartsPageSize, Total: parts}, d.Page)
	require.Len(t, d.Parts, monitor.DefaultPartsPageSize)
	require.Equal(t, monitor.PartView{Number: 1, Size: 5 << 20, Recorded: true, ETag: "etag-1"}, d.Parts[0])
	require.Equal(t, monitor.PartView{Number: 3, Size: 5 << 20}, d.Parts[2])
	require.Equal(t, 4, d.Upload.PartsDone)
	require.EqualValues(t, 4*5<<20, d.Upload.BytesDone)

	decode(t, b.get(t, "/api/uploads/"+id.String()+"?offset=9990&limit=100"), &d)
	require.Len(t, d.Parts, 10)
	require.Equal(t, monitor.PartView{Number: parts, Size: 5 << 20, Recorded: true, ETag: "etag-10000"}, d.Parts[9])

	decode(t, b.get(t, "/api/uploads/"+id.String()+"?limit=50000"), &d)
	require.Len(t, d.Parts, monitor.MaxPartsPageSize, "the parts page is capped")

	page := b.get(t, "/uploads/"+id.String()+"?offset=100")
	require.Equal(t, 100, strings.Count(page, `<tr data-part="`))
	require.Contains(t, page, `<tr data-part="150">`)
	require.Contains(t, page, "etag-150")
	require.Contains(t, page, "101–200 of 10000 · page 2 of 100")
}

func TestPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mids []string
	for range 7 {
		mid, _ := b.newMigration(t, 1)
		mids = append(mids, mid)
	}
	var l monitor.MigrationList
	decode(t, b.get(t, "/api/migrations?limit=3"), &l)
	require.Equal(t, monitor.Page{Offset: 0, Limit: 3, Total: 7}, l.Page)
	require.Len(t, l.Migrations, 3)
	require.Equal(t, mids[6], l.Migrations[0].ID, "newest first")
	decode(t, b.get(t, "/api/migrations?offset=6&limit=3"), &l)
	require.Len(t, l.Migrations, 1)
	require.Equal(t, mids[0], l.Migrations[0].ID)
	decode(t, b.get(t, "/api/migrations?limit=99999999"), &l)
	require.EqualValues(t, monitor.MaxPageSize, l.Limit)

	for _, path := range []string{"/api/migrations?offset=-1", "/api/migrations?offset=x", "/api/migrations?limit=-5",
		"/api/migrations/" + mids[0] + "?state=weird", "/api/migrations/BAD!", "/api/uploads/nope", "/api/uploads/m1.zz"} {
		res, body := b.do(t, request{path: path})
		require.Equal(t, http.StatusBadRequest, res.StatusCode, "%s: %s", path, body)
		require.Contains(t, body, `"error"`)
	}
	for _, path := range []string{"/api/migrations/gone", "/api/uploads/gone.0123456789abcdef"} {
		res, body := b.do(t, request{path: path})
		require.Equal(t, http.StatusNotFound, res.StatusCode, "%s: %s", path, body)
	}
	for _, path := range []string{"/migrations/gone", "/uploads/gone.0123456789abcdef", "/?offset=-1"} {
		res, body := b.do(t, request{path: path})
		require.NotEqual(t, http.StatusOK, res.StatusCode, path)
		require.Contains(t, body, "Back to the migrations", "errors are pages too")
	}

	page := b.get(t, "/?limit=3&offset=3")
	require.Contains(t, page, "4–6 of 7 · page 2 of 3")
	require.Contains(t, page, `href="/?limit=3"`)
	require.Contains(t, page, `href="/?limit=3&amp;offset=6"`)
}

func TestUploadViews(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mid, ids := b.newMigration(t, 3)
	b.plan(t, ids[0], 2)
	for n := 1; n <= 2; n++ {
		_, err := b.store.RecordPart(b.ctx, ids[0], b.fence(t, ids[0]), n, fmt.Sprintf("etag-%d", n), 5<<20)
		require.NoError(t, err)
	}
	u, err := b.store.GetUpload(b.ctx, ids[0])
	require.NoError(t, err)
	claim, err := b.store.ClaimComplete(b.ctx, ids[0], u.Version, 0)
	require.NoError(t, err)
	_, err = b.store.Complete(b.ctx, ids[0], claim.Version, "final-etag-2")
	require.NoError(t, err)
	_, err = b.store.Fail(b.ctx, ids[1], "S3 said AccessDenied <script>alert(1)</script>")
	require.NoError(t, err)

	var d monitor.MigrationDetail
	decode(t, b.get(t, "/api/migrations/"+mid), &d)
	require.Len(t, d.Uploads, 3)
	byID := map[string]monitor.UploadView{}
	for _, u := range d.Uploads {
		byID[u.ID] = u
	}
	done := byID[ids[0].String()]
	require.Equal(t, "completed", done.State)
	require.Equal(t, "final-etag-2", done.ETag)
	require.EqualValues(t, 10<<20, done.BytesDone)
	require.Positive(t, done.RateBytesPerSec)
	require.Equal(t, "failed", byID[ids[1].String()].State)
	require.EqualValues(t, 1, d.Migration.Completed)
	require.EqualValues(t, 1, d.Migration.Failed)
	require.Equal(t, "bkt", d.Migration.Bucket)
	require.Equal(t, "default", d.Migration.Queue)

	page := b.get(t, "/uploads/"+ids[1].String())
	require.Contains(t, page, "S3 said AccessDenied &lt;script&gt;", "errors are shown, escaped")
	require.NotContains(t, page, "<script>alert(1)")
	require.Contains(t, b.get(t, "/uploads/"+ids[0].String()), "final-etag-2")

	// ids[2] goes as one PutObject: no parts to list.
	u, err = b.store.GetUpload(b.ctx, ids[2])
	require.NoError(t, err)
	_, err = b.store.CompleteSingle(b.ctx, ids[2], u.Version, state.UploadPlan{Size: 42, Fingerprint: "fp", PartSize: 5 << 20, Parts: 1}, "single-etag")
	require.NoError(t, err)
	var ud monitor.UploadDetail
	decode(t, b.get(t, "/api/uploads/"+ids[2].String()), &ud)
	require.True(t, ud.SinglePut)
	require.Empty(t, ud.Parts)
	require.Equal(t, 1, ud.Upload.PartsDone)
	require.EqualValues(t, 42, ud.Upload.BytesDone)
	require.Contains(t, b.get(t, "/uploads/"+ids[2].String()), "sent in one request")

	list := b.get(t, "/")
	require.Contains(t, list, `href="/migrations/`+mid+`"`)

	res, _ := b.do(t, request{path: "/"})
	require.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
}
