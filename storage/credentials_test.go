package storage

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

	"github.com/partflow/partflow/internal/testenv"
)

// isolateCredentials points every credential source of the chain away from the host's (no
// keys in the environment, no shared files, no web identity, no container credentials).
func isolateCredentials(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY",
		"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_REGION"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
}

// TestSessionTokenFromEnvironment: with no static keys in the Config, the chain takes them
// from the environment, AWS_SESSION_TOKEN included, and every request carries the token.
func TestSessionTokenFromEnvironment(t *testing.T) { // not parallel: it sets the environment
	isolateCredentials(t)
	e := newS3Env(t)
	p := testenv.NewProxy(t, e.s3.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", e.s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", e.s3.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "session-token-from-env")
	m, err := NewMinio(Config{Endpoint: p.URL()})
	require.NoError(t, err)
	t.Cleanup(m.CloseIdleConnections)

	_, err = m.PutObject(testCtx(t), Object{e.bucket(t), "k"}, []byte("x"), ObjectOptions{})
	// versitygw takes no session tokens: its refusal shows the token was sent and signed.
	require.ErrorIs(t, err, ErrAccessDenied)
	require.ErrorContains(t, err, "InvalidToken")
	puts := p.Headers(testenv.OpPutObject)
	require.Len(t, puts, 1)
	require.Equal(t, "session-token-from-env", puts[0].Get("X-Amz-Security-Token"))
	require.Contains(t, puts[0].Get("Authorization"), "Credential="+e.s3.AccessKey+"/")
}

// TestWebIdentityCredentialsRefresh: the chain exchanges a web identity token file for
// credentials at STS (a local fake standing in for AWS STS, handing out the server's keys with
// a short life), signs with them, and fetches new ones before they expire while uploads go on.
func TestWebIdentityCredentialsRefresh(t *testing.T) { // not parallel: it sets the environment
	isolateCredentials(t)
	e := newS3Env(t)
	p := testenv.NewProxy(t, e.s3.Endpoint)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("a-projected-service-account-token"), 0o600))
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
	t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/partflow-worker")

	var calls atomic.Int32
	var badCall atomic.Value
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "AssumeRoleWithWebIdentity" ||
			r.Form.Get("WebIdentityToken") != "a-projected-service-account-token" ||
			r.Form.Get("RoleArn") != "arn:aws:iam::123456789012:role/partflow-worker" {
			badCall.Store(fmt.Sprintf("unexpected STS request %v", r.Form))
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_ = xml.NewEncoder(w).Encode(stsResponse{
			AccessKeyID: e.s3.AccessKey, SecretAccessKey: e.s3.SecretKey,
			// versitygw takes only its root keys and no session token; the credentials
			// live two seconds, so they are refreshed after 1.6 s.
			Expiration: time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano),
		})
	}))
	t.Cleanup(sts.Close)

	m, err := NewMinio(Config{Endpoint: p.URL(), STSEndpoint: sts.URL})
	require.NoError(t, err)
	t.Cleanup(m.CloseIdleConnections)
	ctx := testCtx(t)
	bucket := e.bucket(t)
	deadline := time.Now().Add(time.Minute)
	n := 0
	for calls.Load() < 3 {
		require.True(t, time.Now().Before(deadline), "waiting for the credentials to be refreshed twice (STS calls: %d)", calls.Load())
		n++
		_, err := m.PutObject(ctx, Object{bucket, fmt.Sprintf("k%d", n)}, []byte("x"), ObjectOptions{})
		require.NoError(t, err, "upload %d (after %d STS calls)", n, calls.Load())
		time.Sleep(100 * time.Millisecond)
	}
	require.Nil(t, badCall.Load())
	require.GreaterOrEqual(t, n, 3)
	require.Equal(t, n, p.CountStatus(testenv.OpPutObject, http.StatusOK), "every upload signed with valid credentials")
}

type stsResponse struct {
	XMLName         xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	AccessKeyID     string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>AccessKeyId"`
	SecretAccessKey string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>SecretAccessKey"`
	SessionToken    string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>SessionToken"`
	Expiration      string   `xml:"AssumeRoleWithWebIdentityResult>Credentials>Expiration"`
}
