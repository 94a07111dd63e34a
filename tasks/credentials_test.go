package tasks_test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/storage"
)

// TestWebIdentityMigrationOutlivesCredentials: a worker without static keys gets its
// credentials by exchanging a web identity token file at STS (a local fake handing out the
// server's root keys, valid for one second), and a migration that takes longer than that
// completes: the credentials are fetched again before they expire.
func TestWebIdentityMigrationOutlivesCredentials(t *testing.T) { // not parallel: it sets the environment
	dir := t.TempDir()
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_REGION"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("service-account-token"), 0o600))
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
	t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/partflow")

	e := setup(t)
	var calls atomic.Int32
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.Form.Get("WebIdentityToken") != "service-account-token" {
			http.Error(w, "bad token", http.StatusForbidden)
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		_ = xml.NewEncoder(w).Encode(struct {
			XMLName    xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
			AccessKey  string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>AccessKeyId"`
			SecretKey  string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>SecretAccessKey"`
			Expiration string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>Expiration"`
		}{AccessKey: e.s3.AccessKey, SecretKey: e.s3.SecretKey,
			Expiration: time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)})
	}))
	t.Cleanup(sts.Close)

	// 8 MiB/s for 30 MiB: the migration takes several credential lifetimes.
	st, err := storage.NewMinio(storage.Config{Endpoint: e.proxy.URL(), STSEndpoint: sts.URL, MaxRetries: 1,
		BandwidthLimit: 8 << 20})
	require.NoError(t, err)
	t.Cleanup(st.CloseIdleConnections)
	e.startWorker(t, func(c *worker.Config) { c.S3 = st })

	var items []client.MigrationItem
	sums := map[string]string{}
	for i := range 6 {
		name := fmt.Sprintf("f%d.bin", i)
		sums[name] = e.writeFile(t, name, 5*mib+i)
		items = append(items, client.MigrationItem{Source: name, Key: name})
	}
	res, err := e.client.Migrate(e.ctx, client.MigrateRequest{Bucket: e.bucket, Source: "wi", PartSize: storage.MinPartSize,
		Items: client.ItemsOf(items...)})
	require.NoError(t, err)
	m := e.waitMigration(t, res.ID)
	require.EqualValues(t, len(items), m.Completed, "every upload completed (failed %d)", m.Failed)
	for name, sum := range sums {
		require.Equal(t, sum, e.objectSHA256(t, name), name)
	}
	require.GreaterOrEqual(t, calls.Load(), int32(3), "the one-second credentials were fetched again during the migration")
}
