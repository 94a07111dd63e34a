package state_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
)

func TestUploadIDRoundTrip(t *testing.T) {
	t.Parallel()
	id := state.DeriveUploadID(state.NewMigrationID(), "bucket", "key")
	parsed, err := state.ParseUploadID(id.String())
	require.NoError(t, err)
	require.Equal(t, id, parsed)
	require.True(t, state.IsUploadID(id.String()))
	require.Equal(t, id, state.DeriveUploadID(id.Migration, "bucket", "key"), "derivation is deterministic")
	require.NotEqual(t, id, state.DeriveUploadID(id.Migration, "bucket", "key2"))
}

func TestParseUploadIDRejectsGarbage(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "abc", "abc.", ".0123456789abcdef", "ABC.0123456789abcdef",
		"a{b}.0123456789abcdef", "abc.0123456789abcdeg", "abc.0123456789abcdef0", "a:b.0123456789abcdef"} {
		_, err := state.ParseUploadID(s)
		require.Error(t, err, "%q", s)
	}
}

func FuzzParseUploadID(f *testing.F) {
	f.Add("abc.0123456789abcdef")
	f.Add("x{y}.z")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := state.ParseUploadID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("round trip %q -> %q", s, id.String())
		}
		for _, c := range id.Migration {
			if c == '{' || c == '}' || c == ':' || c == '.' {
				t.Fatalf("migration ID %q would break key hash tags", id.Migration)
			}
		}
	})
}
