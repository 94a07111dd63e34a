package console_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/console"
)

func TestTable(t *testing.T) {
	var b strings.Builder
	console.Table(&b, [][]string{
		{"key", "size", "sha256", "put"},
		{"a", "1 B", "✓", "completed"},
		{"longer/key", "200 MiB", "✗", "failed"},
	}, "lrcl")
	require.Equal(t, ""+
		"  key            size  sha256  put\n"+
		"  a               1 B    ✓     completed\n"+
		"  longer/key  200 MiB    ✗     failed\n", b.String())
}
