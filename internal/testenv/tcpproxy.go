package testenv

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// TCPProxy is a toxiproxy in front of a TCP server (Redis, an S3 server), in this process:
// connections through it can be slowed, reset or cut off (a partition) while the test runs.
type TCPProxy struct {
	proxy *toxiproxy.Proxy

	mu  sync.Mutex
	seq int
}

// StartTCPProxy starts a proxy to upstream ("host:port") on a free loopback port; the caller
// closes it (it needs no *testing.T, so any goroutine may start one).
func StartTCPProxy(upstream string) (*TCPProxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "proxy", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start TCP proxy to %s: %w", upstream, err)
	}
	return &TCPProxy{proxy: p}, nil
}

// Close stops the proxy and closes its connections.
func (p *TCPProxy) Close() { p.proxy.Stop() }

// Addr is the proxy's "127.0.0.1:PORT".
func (p *TCPProxy) Addr() string { return p.proxy.Listen }

// Toxic names a fault in place; Remove takes it away.
type Toxic struct {
	p    *TCPProxy
	name string
}

// add installs a toxic of kind with attributes (toxiproxy's JSON attributes) on both
// directions.
func (p *TCPProxy) add(kind, attributes string) ([]Toxic, error) {
	var out []Toxic
	for _, stream := range []string{"upstream", "downstream"} {
		p.mu.Lock()
		p.seq++
		name := fmt.Sprintf("%s-%s-%d", kind, stream, p.seq)
		p.mu.Unlock()
		body := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, kind, stream, attributes)
		if _, err := p.proxy.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
			return out, fmt.Errorf("testenv: add %s toxic: %w", kind, err)
		}
		out = append(out, Toxic{p: p, name: name})
	}
	return out, nil
}

// Latency delays every chunk of data by ms milliseconds (± jitter) until the returned
// function takes it away; data sent meanwhile still arrives, late.
func (p *TCPProxy) Latency(t testing.TB, ms, jitter int) (remove func()) {
	t.Helper()
	toxics, err := p.add("latency", fmt.Sprintf(`{"latency":%d,"jitter":%d}`, ms, jitter))
	if err != nil {
		t.Fatal(err)
	}
	return func() { removeAll(t, toxics) }
}

func removeAll(t testing.TB, toxics []Toxic) {
	for _, x := range toxics {
		if err := x.p.proxy.Toxics.RemoveToxic(t.Context(), x.name); err != nil {
			t.Errorf("testenv: remove toxic %s: %v", x.name, err)
		}
	}
}
