package source

import (
	"context"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"8.8.8.8": classPublic, "2001:4860:4860::8888": classPublic, "203.0.113.7": classPublic,
		"127.0.0.1": classLoopback, "127.255.0.9": classLoopback, "::1": classLoopback,
		"::ffff:127.0.0.1": classLoopback, "64:ff9b::7f00:1": classLoopback, "64:ff9b::808:808": classPublic,
		"10.0.0.1": classPrivate, "172.16.0.1": classPrivate, "172.31.255.255": classPrivate, "172.32.0.1": classPublic,
		"192.168.1.1": classPrivate, "::ffff:10.1.1.1": classPrivate,
		"169.254.1.1": classLinkLocal, "fe80::1": classLinkLocal, "fe80::1%eth0": classLinkLocal,
		"100.64.0.1": classShared, "100.127.255.254": classShared, "100.128.0.1": classPublic,
		"fc00::1": classUniqueLocal, "fd12:3456::1": classUniqueLocal,
		"0.0.0.0": classUnspecified, "0.1.2.3": classUnspecified, "::": classUnspecified,
		"224.0.0.1": classMulticast, "ff02::1": classMulticast,
		"255.255.255.255": classReserved, "240.0.0.1": classReserved, "198.18.0.1": classReserved,
		"169.254.169.254": classMetadata, "::ffff:169.254.169.254": classMetadata, "fd00:ec2::254": classMetadata,
		"169.254.170.2": classMetadata, "100.100.100.200": classMetadata, "168.63.129.16": classMetadata,
		"64:ff9b::a9fe:a9fe": classMetadata,
	}
	for addr, want := range cases {
		require.Equal(t, want, classify(netip.MustParseAddr(addr)), addr)
	}
}

func TestAddrPolicy(t *testing.T) {
	t.Parallel()
	ok := func(p addrPolicy, a string) bool { return p.check(netip.MustParseAddr(a)) == nil }

	var strict addrPolicy
	require.True(t, ok(strict, "93.184.216.34"))
	for _, a := range []string{"127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fd00::1", "100.64.0.1", "0.0.0.0", "224.0.0.1"} {
		require.False(t, ok(strict, a), a)
	}

	private := addrPolicy{allowPrivate: true}
	for _, a := range []string{"127.0.0.1", "10.0.0.1", "::1", "fd00::1", "100.64.0.1", "169.254.1.1"} {
		require.True(t, ok(private, a), a)
	}
	for _, a := range []string{"169.254.169.254", "fd00:ec2::254", "0.0.0.0", "224.0.0.1", "255.255.255.255"} {
		require.False(t, ok(private, a), "AllowPrivate never opens %s", a)
	}

	cfg := URLConfig{AllowHosts: []string{"x"}, AllowAddrs: []netip.Prefix{
		netip.MustParsePrefix("::ffff:127.0.0.1/128"), netip.MustParsePrefix("169.254.169.254/32")}}
	_, _, err := cfg.validate()
	require.NoError(t, err)
	explicit := addrPolicy{allowAddrs: cfg.AllowAddrs}
	require.True(t, ok(explicit, "127.0.0.1"), "an IPv4-mapped prefix allows the IPv4 address")
	require.True(t, ok(explicit, "169.254.169.254"), "an explicit allowance opens even the metadata address")
	require.False(t, ok(explicit, "127.0.0.2"))
}

func TestDialerChecksBeforeConnecting(t *testing.T) {
	t.Parallel()
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr(map[string]string{
			"meta": "169.254.169.254", "private": "10.0.0.1", "loop": "127.0.0.1"}[host])}, nil
	}
	d := newDialer(addrPolicy{}, resolve)
	var controls atomic.Int32
	check := d.net.Control
	d.net.Control = func(network, address string, c syscall.RawConn) error {
		controls.Add(1)
		return check(network, address, c)
	}
	for _, addr := range []string{"meta:80", "private:443", "loop:8080", "127.0.0.1:80", "[::1]:80", "[::ffff:10.0.0.1]:80"} {
		_, err := d.DialContext(t.Context(), "tcp", addr)
		require.ErrorIs(t, err, ErrForbidden, addr)
	}
	require.Zero(t, controls.Load(), "no socket was even created for a refused address")

	// The socket-level check refuses on its own too (defence in depth).
	for _, addr := range []string{"10.0.0.1:80", "[fd00:ec2::254]:80", "not-an-ip:80"} {
		require.ErrorIs(t, check("tcp", addr, nil), ErrForbidden, addr)
	}
	require.NoError(t, check("tcp", "93.184.216.34:80", nil))
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"5":                             5 * time.Second,
		" 120 ":                         2 * time.Minute,
		"-3":                            0,
		"99999999999999999999":          0, // overflows: ignored
		"999999999":                     24 * time.Hour,
		"soon":                          0,
		"Sun, 01 Jun 2025 12:00:30 GMT": 30 * time.Second,
		"Sun, 01 Jun 2025 11:00:00 GMT": 0,
	}
	for in, want := range cases {
		require.Equal(t, want, parseRetryAfter(in, now), "%q", in)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://h/p?X-Amz-Signature=abc": "https://h/p?…",
		"http://h:8080/a%20b":             "http://h:8080/a%20b",
		"http://u:pw@h/p#frag":            "http://h/p",
	} {
		u, err := CheckURL(in)
		if err != nil { // userinfo is refused; Redact still must not show it
			require.NotContains(t, err.Error(), "pw", in)
			require.Contains(t, err.Error(), want, in)
			continue
		}
		require.Equal(t, want, Redact(u), in)
	}
}
