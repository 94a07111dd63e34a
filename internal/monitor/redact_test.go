package monitor_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

// A presigned URL's query is a credential: no page or API answer of the monitor shows it.
func TestMonitorRedactsPresignedQuery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const presigned = "https://files.example.com/a/b.bin?X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=deadbeefsecret"
	mid := state.NewMigrationID()
	_, err := b.store.CreateMigration(b.ctx, state.NewMigration{ID: mid, Bucket: "bkt", Source: presigned, Queue: "default"})
	require.NoError(t, err)
	id := state.DeriveUploadID(mid, "bkt", "k")
	_, err = b.store.CreateUpload(b.ctx, state.NewUpload{ID: id, Source: presigned, Bucket: "bkt", Key: "k"})
	require.NoError(t, err)
	require.NoError(t, b.store.SealMigration(b.ctx, mid))

	for _, path := range []string{"/", "/migrations/" + mid, "/uploads/" + id.String(),
		"/api/migrations", "/api/migrations/" + mid, "/api/uploads/" + id.String()} {
		body := b.get(t, path)
		require.Contains(t, body, "files.example.com/a/b.bin", "%s shows the source", path)
		require.NotContains(t, body, "X-Amz-Signature", "GET %s", path)
		require.NotContains(t, body, "deadbeefsecret", "GET %s", path)
	}
}
