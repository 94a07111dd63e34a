package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
)

// This file holds per-host request headers (an Authorization token, an API key): how they are
// loaded and how they are added to requests. Their values are secrets: no error, log line or
// payload ever contains one.

// LoadURLHeaders reads per-host request headers from a JSON file shaped like
//
//	{"files.example.com": {"Authorization": "Bearer …"}, "cdn.example.com:8443": {"X-Api-Key": "…"}}
//
// A key is an exact host name (any port) or host:port (that port only); such headers go over
// https only. A key naming an http:// origin ("http://files.internal" or
// "http://files.internal:8080") lets them go over plain http too. Errors name the host and
// header, never a value.
func LoadURLHeaders(path string) (map[string]http.Header, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("source: url headers: %w", err)
	}
	var raw map[string]map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		// Say where, not what: a syntax error's message quotes the file's content.
		where := ""
		var se *json.SyntaxError
		if errors.As(err, &se) {
			where = fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
		}
		return nil, fmt.Errorf("source: url headers file %s: want a JSON object of string values, "+
			"{\"host\": {\"Header\": \"value\"}}%s", path, where)
	}
	out := make(map[string]http.Header, len(raw))
	for host, hs := range raw {
		h := make(http.Header, len(hs))
		for name, value := range hs {
			h.Set(name, value)
		}
		out[host] = h
	}
	return out, nil
}

// Headers partflow sets itself; configuring them per host would break range reads or
// change detection.
var reservedHeaders = map[string]bool{
	"Host": true, "Range": true, "If-Range": true, "If-Match": true, "If-None-Match": true,
	"If-Modified-Since": true, "If-Unmodified-Since": true, "Accept-Encoding": true,
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Te": true, "Upgrade": true,
	"Trailer": true, "Keep-Alive": true, "Proxy-Connection": true,
}

// hostHeaders are validated per-host headers keyed by normalized "host" or "host:port".
type hostHeaders map[string]hostHeader

// hostHeader is one host's headers and whether its key named an http:// origin.
type hostHeader struct {
	header    http.Header
	allowHTTP bool
}

func parseHostHeaders(in map[string]http.Header, hosts hostPatterns) (hostHeaders, error) {
	out := make(hostHeaders, len(in))
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the first bad entry deterministically
	for _, key := range keys {
		bare, allowHTTP := strings.CutPrefix(strings.ToLower(strings.TrimSpace(key)), "http://")
		if !allowHTTP {
			bare = strings.TrimPrefix(bare, "https://")
		}
		norm, hostname, err := normalizeHeaderKey(strings.TrimSuffix(bare, "/"))
		if err != nil {
			return nil, err
		}
		if !hosts.allows(hostname) {
			return nil, fmt.Errorf("source: URLConfig.Headers: host %q is not allowed by AllowHosts, so its headers could never be sent", key)
		}
		if _, dup := out[norm]; dup {
			return nil, fmt.Errorf("source: URLConfig.Headers: host %q is given twice", key)
		}
		h := make(http.Header, len(in[key]))
		for name, values := range in[key] {
			canon := http.CanonicalHeaderKey(name)
			switch {
			case !validHeaderName(name):
				return nil, fmt.Errorf("source: URLConfig.Headers: host %q: %q is not a valid header name", key, name)
			case reservedHeaders[canon] || strings.HasPrefix(canon, "Proxy-"):
				return nil, fmt.Errorf("source: URLConfig.Headers: host %q: header %s is set by partflow and cannot be configured", key, canon)
			}
			for _, v := range values {
				if strings.ContainsAny(v, "\r\n\x00") {
					return nil, fmt.Errorf("source: URLConfig.Headers: host %q: the value of %s contains a line break or NUL byte", key, canon)
				}
			}
			h[canon] = append([]string(nil), values...)
		}
		out[norm] = hostHeader{header: h, allowHTTP: allowHTTP}
	}
	return out, nil
}

// normalizeHeaderKey returns the lookup form of a Headers key and its host name.
func normalizeHeaderKey(key string) (norm, hostname string, err error) {
	k := strings.ToLower(strings.TrimSpace(key))
	if k == "" || strings.ContainsAny(k, "*/@ ") {
		return "", "", fmt.Errorf("source: URLConfig.Headers: key %q: want an exact host or host:port", key)
	}
	if host, port, err := net.SplitHostPort(k); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return "", "", fmt.Errorf("source: URLConfig.Headers: key %q: bad port", key)
		}
		host = normalizeHost(host)
		return net.JoinHostPort(host, port), host, nil
	}
	host := normalizeHost(k)
	if strings.Contains(host, ":") && !isIP(host) {
		return "", "", fmt.Errorf("source: URLConfig.Headers: key %q: want an exact host or host:port", key)
	}
	return host, host, nil
}

// forURL returns the headers configured for u's exact host: a host:port entry first, then a
// host entry. Headers whose key named no http:// origin are never sent over plain http: a
// request for such a host over http is refused with ErrForbidden rather than sent without
// them (or with them in clear).
func (hh hostHeaders) forURL(u *url.URL) (http.Header, error) {
	if len(hh) == 0 {
		return nil, nil
	}
	host := normalizeHost(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	h, ok := hh[net.JoinHostPort(host, port)]
	if !ok {
		if h, ok = hh[host]; !ok {
			return nil, nil
		}
	}
	if u.Scheme != "https" && !h.allowHTTP {
		return nil, fmt.Errorf("source: %s: the headers configured for host %s go over https only "+
			"(name http://%s in the headers file to send them over plain http): %w", Redact(u), host, host, ErrForbidden)
	}
	return h.header, nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// headerTransport adds each request's per-host headers as it goes out: after every redirect
// the headers are chosen again for the new URL, so a redirect to another host never carries
// them. The headers are never set on the request the http.Client copies to redirects.
type headerTransport struct {
	base    http.RoundTripper
	headers hostHeaders
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h, err := t.headers.forURL(req.URL)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on error
		}
		return nil, err
	}
	if len(h) == 0 {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context()) // a RoundTripper must not modify the caller's request
	for name, values := range h {
		r.Header[name] = values
	}
	return t.base.RoundTrip(r)
}
