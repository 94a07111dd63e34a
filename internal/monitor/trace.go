package monitor

import (
	"errors"
	"net/url"
	"strings"
)

// traceIDPlaceholder is where a trace URL template takes the trace ID.
const traceIDPlaceholder = "{trace_id}"

// CheckTraceURLTemplate checks a Config.TraceURLTemplate: "" or an http(s) URL with {trace_id}.
func CheckTraceURLTemplate(tmpl string) error {
	if tmpl == "" {
		return nil
	}
	if !strings.Contains(tmpl, traceIDPlaceholder) {
		return errors.New("want a URL with {trace_id} where the trace ID goes")
	}
	u, err := url.Parse(strings.ReplaceAll(tmpl, traceIDPlaceholder, "0"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http(s) URL")
	}
	return nil
}

// traceURL is the address of trace id in the tracing UI, or "" without a template or a
// well-formed ID (32 lowercase hex digits, as OpenTelemetry writes it).
func traceURL(tmpl, id string) string {
	if tmpl == "" || len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return ""
	}
	return strings.ReplaceAll(tmpl, traceIDPlaceholder, id)
}
