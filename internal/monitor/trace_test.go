package monitor

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTraceURL(t *testing.T) {
	t.Parallel()
	const tmpl = "https://jaeger.example.com/trace/{trace_id}"
	require.NoError(t, CheckTraceURLTemplate(""))
	require.NoError(t, CheckTraceURLTemplate(tmpl))
	require.Error(t, CheckTraceURLTemplate("https://jaeger.example.com/trace/"), "no {trace_id}")
	require.Error(t, CheckTraceURLTemplate("javascript:{trace_id}"), "not http(s)")

	id := "4bf92f3577b34da6a3ce929d0e0e4736"
	require.Equal(t, "https://jaeger.example.com/trace/"+id, traceURL(tmpl, id))
	require.Empty(t, traceURL("", id), "no template, no link")
	require.Empty(t, traceURL(tmpl, ""), "an upload without a trace has no link")
	require.Empty(t, traceURL(tmpl, `"><script>`+id[:22]), "only a well-formed trace ID makes a link")
}
