package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// This file holds what a URL may name and where a connection may go: the host allow list and
// the address policy that the dialer applies to every resolved address.

// IsURL reports whether src names an http(s) URL rather than a volume path.
func IsURL(src string) bool {
	return hasPrefixFold(src, "http://") || hasPrefixFold(src, "https://")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// CheckURL checks what can be checked about a URL source without a network or a worker's
// configuration: an absolute http or https URL with a host and without user information
// (credentials in a URL would be stored in Redis and shown by status; per-host headers in the
// worker's configuration carry them instead). Errors never repeat the URL's user information
// or query.
func CheckURL(src string) (*url.URL, error) {
	u, err := url.Parse(src)
	if err != nil {
		// url.Error repeats the URL, which may carry secrets; say only what is wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("source: not a valid URL: %v: %w", err, ErrInvalid)
	}
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return u, nil
}

func checkURL(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s: only http:// and https:// URLs are supported: %w", Redact(u), ErrInvalid)
	case u.User != nil:
		return fmt.Errorf("%s: the URL carries credentials (user@ or user:password@); "+
			"URLs are stored in Redis and shown by status, so configure them as a per-host header "+
			"on the workers (--url-headers-file) instead: %w", Redact(u), ErrInvalid)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%s: the URL has no host: %w", Redact(u), ErrInvalid)
	}
	return nil
}

// Redact returns u without user information or query for messages: a presigned URL's query
// is a credential. A URL with a query ends in "?…".
func Redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := r.String()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return s
}

// RedactSource returns a source as it may be shown or logged: a URL without its user
// information and query (Redact), a volume path unchanged. A URL that does not parse shows
// its scheme only. Keep the raw source only where a worker reads it.
func RedactSource(src string) string {
	if !IsURL(src) {
		return src
	}
	u, err := url.Parse(src)
	if err != nil {
		scheme, _, _ := strings.Cut(src, "://")
		return scheme + "://…"
	}
	return Redact(u)
}

// normalizeHost lower-cases a host name and drops a trailing dot and IPv6 brackets.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// hostPatterns is a validated host allow list.
type hostPatterns []string

func parseHostPatterns(in []string) (hostPatterns, error) {
	var out hostPatterns
	for _, raw := range in {
		p := strings.ToLower(strings.TrimSpace(raw))
		if !strings.HasPrefix(p, "*.") {
			p = normalizeHost(p)
		}
		switch {
		case p == "":
			continue
		case p == "*":
		case strings.HasPrefix(p, "*."):
			p = "*." + normalizeHost(p[2:])
			if rest := p[2:]; rest == "" || strings.ContainsAny(rest, "*/:@ ") {
				return nil, fmt.Errorf("host pattern %q: want an exact host, *.suffix or *", raw)
			}
		case strings.ContainsAny(p, "*/@ ") || (strings.Contains(p, ":") && !isIP(p)):
			return nil, fmt.Errorf("host pattern %q: want an exact host (no scheme, port or path), *.suffix or *", raw)
		}
		out = append(out, p)
	}
	return out, nil
}

func isIP(s string) bool { _, err := netip.ParseAddr(s); return err == nil }

// CheckHostPatterns checks an allow list of host patterns (exact host, "*.suffix" or "*")
// as workers parse theirs, naming the first malformed one.
func CheckHostPatterns(patterns []string) error {
	_, err := parseHostPatterns(patterns)
	return err
}

// HostAllowed reports whether host matches one of the allow-list patterns (exact host,
// "*.suffix" or "*"), the same rule workers apply to URL sources; a malformed pattern is an
// error.
func HostAllowed(patterns []string, host string) (bool, error) {
	ps, err := parseHostPatterns(patterns)
	if err != nil {
		return false, err
	}
	return ps.allows(host), nil
}

// allows reports whether host (any port) matches a pattern: exactly, below a "*." suffix (not
// the suffix itself), or "*" for any host.
func (ps hostPatterns) allows(host string) bool {
	host = normalizeHost(host)
	for _, p := range ps {
		switch {
		case p == "*", p == host:
			return true
		case strings.HasPrefix(p, "*.") && strings.HasSuffix(host, p[1:]) && len(host) > len(p)-1:
			return true
		}
	}
	return false
}

// addrPolicy decides which addresses connections may reach.
type addrPolicy struct {
	allowPrivate bool
	allowAddrs   []netip.Prefix
}

// Address classes a connection is refused to unless allowed.
const (
	classPublic      = ""
	classLoopback    = "loopback"
	classPrivate     = "private"
	classLinkLocal   = "link-local"
	classShared      = "shared, CGNAT"
	classUniqueLocal = "unique-local"
	classUnspecified = "unspecified"
	classMulticast   = "multicast"
	classReserved    = "reserved"
	classMetadata    = "cloud metadata"
)

// privateClasses are what URLConfig.AllowPrivate opens.
var privateClasses = map[string]bool{classLoopback: true, classPrivate: true, classLinkLocal: true,
	classShared: true, classUniqueLocal: true}

var (
	// Cloud metadata and similar host-local services: AWS/GCP/Azure/OpenStack, AWS ECS task
	// metadata, Alibaba, Oracle, Azure's wireserver, AWS's IPv6 metadata endpoint.
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("169.254.170.2"),
		netip.MustParseAddr("100.100.100.200"), netip.MustParseAddr("192.0.0.192"),
		netip.MustParseAddr("168.63.129.16"), netip.MustParseAddr("fd00:ec2::254"),
	}
	classPrefixes = []struct {
		prefix netip.Prefix
		class  string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), classUnspecified}, // "this network"; 0.0.0.0 reaches localhost
		{netip.MustParsePrefix("10.0.0.0/8"), classPrivate},
		{netip.MustParsePrefix("100.64.0.0/10"), classShared},
		{netip.MustParsePrefix("127.0.0.0/8"), classLoopback},
		{netip.MustParsePrefix("169.254.0.0/16"), classLinkLocal},
		{netip.MustParsePrefix("172.16.0.0/12"), classPrivate},
		{netip.MustParsePrefix("192.0.0.0/24"), classReserved}, // IETF protocol assignments
		{netip.MustParsePrefix("192.168.0.0/16"), classPrivate},
		{netip.MustParsePrefix("198.18.0.0/15"), classReserved}, // benchmarking
		{netip.MustParsePrefix("224.0.0.0/4"), classMulticast},
		{netip.MustParsePrefix("240.0.0.0/4"), classReserved}, // includes 255.255.255.255
		{netip.MustParsePrefix("::/128"), classUnspecified},
		{netip.MustParsePrefix("::1/128"), classLoopback},
		{netip.MustParsePrefix("fe80::/10"), classLinkLocal},
		{netip.MustParsePrefix("fc00::/7"), classUniqueLocal},
		{netip.MustParsePrefix("ff00::/8"), classMulticast},
	}
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// classify returns the class of a (classPublic for an ordinary address). IPv4-mapped and
// NAT64 addresses are classified by the IPv4 address they carry.
func classify(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if nat64.Contains(a) {
		b := a.As16()
		if c := classify(netip.AddrFrom4([4]byte(b[12:]))); c != classPublic {
			return c
		}
	}
	for _, m := range metadataAddrs {
		if a == m {
			return classMetadata
		}
	}
	for _, p := range classPrefixes {
		if p.prefix.Contains(a) {
			return p.class
		}
	}
	return classPublic
}

// check returns nil if a connection to a is allowed, else an error wrapping ErrForbidden.
func (p addrPolicy) check(a netip.Addr) error {
	a = a.Unmap().WithZone("")
	for _, allowed := range p.allowAddrs {
		if allowed.Contains(a) {
			return nil
		}
	}
	class := classify(a)
	if class == classPublic || (p.allowPrivate && privateClasses[class]) {
		return nil
	}
	return &refusedAddrError{addr: a, class: class}
}

type refusedAddrError struct {
	addr  netip.Addr
	class string
}

func (e *refusedAddrError) Error() string {
	return fmt.Sprintf("%s (%s)", e.addr, e.class)
}

func (e *refusedAddrError) Unwrap() error { return ErrForbidden }

// dialer connects only to addresses the policy allows. It resolves names itself and dials
// the checked IP, so the address checked is the address connected to (no second lookup for
// DNS rebinding to exploit); Control checks the socket's address again before connecting.
type dialer struct {
	policy  addrPolicy
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	net     net.Dialer
}

func newDialer(policy addrPolicy, resolve func(context.Context, string) ([]netip.Addr, error)) *dialer {
	d := &dialer{policy: policy, resolve: resolve}
	d.net.Control = func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("refusing to connect to %q: not an IP address: %w", address, ErrForbidden)
		}
		if err := d.policy.check(ap.Addr()); err != nil {
			return fmt.Errorf("refusing to connect: %w", err)
		}
		return nil
	}
	return d
}

func (d *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = d.resolve(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
	}
	var refused []string
	var dialErr error
	for _, a := range addrs {
		if err := d.policy.check(a); err != nil {
			refused = append(refused, err.Error())
			continue
		}
		conn, err := d.net.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		dialErr = err
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case dialErr != nil:
		return nil, dialErr
	case len(refused) > 0:
		return nil, fmt.Errorf("refusing to connect to %s: %s (allow with --url-allow-private "+
			"or --url-allow-addr if this is intended): %w", host, strings.Join(refused, ", "), ErrForbidden)
	}
	return nil, fmt.Errorf("resolve %s: no addresses", host)
}

func defaultResolve(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}
