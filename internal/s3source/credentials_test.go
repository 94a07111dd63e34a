package s3source_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/s3source"
	"github.com/partflow/partflow/storage"
)

func TestCredentialsFromTheSourceVariables(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want storage.Config
		err  string // "" for none; "none" for ErrNoCredentials
	}{
		{name: "keys", env: map[string]string{s3source.EnvAccessKey: "ak", s3source.EnvSecretKey: "sk", s3source.EnvSessionToken: "tok"},
			want: storage.Config{AccessKey: "ak", SecretKey: "sk", SessionToken: "tok"}},
		{name: "profile", env: map[string]string{s3source.EnvProfile: "src"}, want: storage.Config{Profile: "src", ProfileOnly: true}},
		{name: "none", env: nil, err: "none"},
		{name: "half a key pair", env: map[string]string{s3source.EnvAccessKey: "ak"}, err: "go together"},
		{name: "keys and profile", env: map[string]string{s3source.EnvAccessKey: "ak", s3source.EnvSecretKey: "sk", s3source.EnvProfile: "p"}, err: "not both"},
		{name: "token alone", env: map[string]string{s3source.EnvSessionToken: "tok", s3source.EnvProfile: "p"}, err: "needs"},
	} {
		getenv := func(k string) string { return tc.env[k] }
		var cfg storage.Config
		err := s3source.Credentials(getenv, &cfg)
		switch tc.err {
		case "":
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, cfg, tc.name)
		case "none":
			require.ErrorIs(t, err, s3source.ErrNoCredentials, tc.name)
			require.False(t, s3source.AnyCredentials(getenv), tc.name)
		default:
			require.ErrorContains(t, err, tc.err, tc.name)
			require.True(t, s3source.AnyCredentials(getenv), tc.name)
		}
	}
}
