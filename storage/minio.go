package storage

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"golang.org/x/time/rate"
)

// Config configures a Minio client.
type Config struct {
	// Endpoint is "http://host:port" or "https://host:port".
	Endpoint string
	// AccessKey and SecretKey are static credentials, with SessionToken for
	// temporary ones. Leave both empty to use the credential chain (see
	// credentialsFor: environment, shared files, web identity, container
	// credentials, instance metadata). The secret and the token never appear
	// in errors or String output.
	AccessKey, SecretKey, SessionToken string
	// Profile names the profile of the shared credentials files the chain
	// reads; empty: AWS_PROFILE, else "default".
	Profile string
	// ProfileOnly makes the chain read only Profile (required then) from the
	// shared files: neither the AWS_* keys in the environment nor IAM, which
	// are the destination's. For a second store (the S3 source store).
	ProfileOnly bool
	// STSEndpoint is where the chain exchanges a web identity token
	// (AWS_WEB_IDENTITY_TOKEN_FILE) for credentials, e.g. from
	// AWS_ENDPOINT_URL_STS; empty: the region's STS. Set it only for web
	// identity: minio-go sends container and instance-metadata requests
	// there too.
	STSEndpoint string
	// Region defaults to "us-east-1".
	Region string
	// BucketLookup is how buckets are addressed: "path"
	// (https://host/bucket/key), "dns" (virtual-hosted,
	// https://bucket.host/key, as AWS prefers) or "auto" (the default:
	// virtual-hosted for AWS and other known clouds, path elsewhere).
	BucketLookup string
	// SSECKeyDir is the directory of SSE-C key files that objects name
	// (SSE.CustomerKeyName); empty: none.
	SSECKeyDir string
	// CABundle is a PEM file of CA certificates trusted for the endpoint
	// (and STS) in addition to the system's; empty: the system's only.
	// Ignored when Transport is given.
	CABundle string
	// MaxIdleConns is the keep-alive pool size per host, default 16. Set
	// it to the number of concurrent requests (the worker's concurrency) so
	// parts do not open a new connection each.
	MaxIdleConns int
	// Transport replaces the default transport (a tuned *http.Transport,
	// see NewTransport); MaxIdleConns and ResponseHeaderTimeout are then
	// the Transport's business.
	Transport http.RoundTripper
	// WrapTransport, if set, wraps the transport of S3 requests (not of credential
	// requests), as tracing does to make a span per request.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// MaxRetries is how many times minio-go tries a request that failed
	// with a retryable error (network, 5xx, SlowDown); 0 = minio-go's
	// default (10), 1 = no retries.
	MaxRetries int
	// ResponseHeaderTimeout bounds the wait for response headers after a
	// request was sent, default 1 hour. It is a backstop for calls whose
	// context has no deadline: CompleteMultipartUpload answers only once the
	// server has assembled the object (versitygw's posix backend copies
	// every part, about 230 MB/s here), so it must stay generous.
	ResponseHeaderTimeout time.Duration
	// BandwidthLimit caps the bytes per second this client sends in part and object bodies,
	// shared by all its requests; 0 means no limit.
	BandwidthLimit int64
}

// DefaultResponseHeaderTimeout is Config.ResponseHeaderTimeout's default.
const DefaultResponseHeaderTimeout = time.Hour

// validate names the first bad field and fills defaults.
func (c *Config) validate() error {
	u, err := url.Parse(c.Endpoint)
	switch {
	case c.Endpoint == "":
		return errors.New("storage: config: Endpoint is required")
	case err != nil:
		return fmt.Errorf("storage: config: Endpoint %q: %w", c.Endpoint, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("storage: config: Endpoint %q: scheme must be http or https", c.Endpoint)
	case u.Host == "":
		return fmt.Errorf("storage: config: Endpoint %q: no host", c.Endpoint)
	case u.User != nil:
		return fmt.Errorf("storage: config: Endpoint: must not contain user info")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return fmt.Errorf("storage: config: Endpoint %q: must have no path, query or fragment", c.Endpoint)
	case (c.AccessKey == "") != (c.SecretKey == ""):
		return errors.New("storage: config: AccessKey and SecretKey go together (leave both empty for the credential chain)")
	case c.SessionToken != "" && c.AccessKey == "":
		return errors.New("storage: config: SessionToken needs AccessKey and SecretKey")
	case c.ProfileOnly && c.Profile == "" && c.AccessKey == "":
		return errors.New("storage: config: ProfileOnly needs a Profile")
	case c.MaxIdleConns < 0:
		return fmt.Errorf("storage: config: MaxIdleConns %d is negative", c.MaxIdleConns)
	case c.MaxRetries < 0:
		return fmt.Errorf("storage: config: MaxRetries %d is negative", c.MaxRetries)
	case c.ResponseHeaderTimeout < 0:
		return fmt.Errorf("storage: config: ResponseHeaderTimeout %s is negative", c.ResponseHeaderTimeout)
	}
	if _, ok := bucketLookups[c.BucketLookup]; !ok {
		return fmt.Errorf("storage: config: BucketLookup %q: want auto, path or dns", c.BucketLookup)
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = 16
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	return nil
}

// bucketLookups maps BucketLookup to minio-go's.
var bucketLookups = map[string]minio.BucketLookupType{
	"": minio.BucketLookupAuto, "auto": minio.BucketLookupAuto, "path": minio.BucketLookupPath, "dns": minio.BucketLookupDNS,
}

// String shows the configuration without the secret key and session token.
func (c Config) String() string {
	secret, token := "", ""
	if c.SecretKey != "" {
		secret = "REDACTED"
	}
	if c.SessionToken != "" {
		token = "REDACTED"
	}
	creds := "static"
	if c.AccessKey == "" {
		creds = "chain"
	}
	return fmt.Sprintf("storage.Config{Endpoint: %q, Credentials: %s, AccessKey: %q, SecretKey: %s, SessionToken: %s, Profile: %q, "+
		"STSEndpoint: %q, Region: %q, BucketLookup: %q, CABundle: %q, MaxIdleConns: %d, MaxRetries: %d}",
		c.Endpoint, creds, c.AccessKey, secret, token, c.Profile, c.STSEndpoint, c.Region, c.BucketLookup, c.CABundle,
		c.MaxIdleConns, c.MaxRetries)
}

// GoString keeps %#v from printing the secret key.
func (c Config) GoString() string { return c.String() }

// NewTransport returns the default transport: a clone of
// http.DefaultTransport speaking HTTP/1.1 with maxIdleConns keep-alive
// connections per host, bounded dial and TLS handshake times, and
// responseHeaderTimeout to wait for response headers.
func NewTransport(maxIdleConns int, responseHeaderTimeout time.Duration) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ForceAttemptHTTP2 = false // parallel parts want parallel connections
	tr.MaxIdleConnsPerHost = maxIdleConns
	tr.MaxConnsPerHost = 0
	tr.MaxIdleConns = max(tr.MaxIdleConns, maxIdleConns)
	tr.IdleConnTimeout = 90 * time.Second
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = responseHeaderTimeout
	tr.ExpectContinueTimeout = time.Second
	tr.DisableCompression = true // objects with Content-Encoding: gzip stay as stored
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return tr
}

// Minio implements Multipart with minio-go's low-level *minio.Core.
type Minio struct {
	core      *minio.Core
	endpoint  string
	transport *http.Transport // the default transport, nil when Config.Transport was given
	limiter   *rate.Limiter   // nil: no bandwidth limit
	keyDir    *os.Root        // SSE-C key files; nil: none
	// noChecksums is set once the server refused an additional checksum (or
	// Config.DisableChecksums): from then on requests carry Content-MD5 only.
	noChecksums atomic.Bool

	// Page sizes for ListParts and ListUploads; 0 lets the server choose
	// (1000). Tests set them small to exercise pagination.
	partsPageSize   int
	uploadsPageSize int
}

var _ Multipart = (*Minio)(nil)

// NewMinio validates cfg and returns a client for its endpoint. It makes no
// request; use BucketExists to check the endpoint and credentials.
func NewMinio(cfg Config) (*Minio, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Endpoint) // validated
	tr := cfg.Transport
	var own *http.Transport
	if tr == nil {
		own = NewTransport(cfg.MaxIdleConns, cfg.ResponseHeaderTimeout)
		if cfg.CABundle != "" {
			pool, err := loadCABundle(cfg.CABundle)
			if err != nil {
				return nil, err
			}
			own.TLSClientConfig.RootCAs = pool
		}
		tr = own
	}
	credsTransport := http.RoundTripper(http.DefaultTransport)
	if own != nil {
		credsTransport = own.Clone()
	}
	if cfg.WrapTransport != nil {
		tr = cfg.WrapTransport(tr)
	}
	core, err := minio.NewCore(u.Host, &minio.Options{
		Creds:        credentialsFor(cfg, credentialsClient(credsTransport)),
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: bucketLookups[cfg.BucketLookup],
		Transport:    tr,
		MaxRetries:   cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: new client for %s: %w", cfg.Endpoint, err)
	}
	m := &Minio{core: core, endpoint: cfg.Endpoint, transport: own}
	if cfg.SSECKeyDir != "" {
		if m.keyDir, err = os.OpenRoot(cfg.SSECKeyDir); err != nil {
			return nil, fmt.Errorf("storage: config: SSECKeyDir: %w", err)
		}
	}
	if cfg.BandwidthLimit > 0 {
		// A burst of 256 KiB (or the limit, if smaller) keeps the pace smooth.
		m.limiter = rate.NewLimiter(rate.Limit(cfg.BandwidthLimit), int(min(cfg.BandwidthLimit, 256<<10)))
	}
	return m, nil
}

// CloseIdleConnections closes the idle keep-alive connections of the
// default transport (a Config.Transport is the caller's to close), for a
// clean shutdown.
func (m *Minio) CloseIdleConnections() {
	if m.transport != nil {
		m.transport.CloseIdleConnections()
	}
}

// String names the endpoint (never the credentials).
func (m *Minio) String() string { return "storage.Minio(" + m.endpoint + ")" }

// checkBucket applies minio-go's own bucket name rules up front: minio-go
// reports a bad name as a plain error from some calls and sends it to the
// server from others.
func checkBucket(bucket string) error {
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return fmt.Errorf("%w: %q: %s", ErrInvalidBucketName, bucket, err.Error())
	}
	return nil
}

// CreateUpload implements Multipart. Unless checksums are off, the upload is
// created for full-object CRC-64/NVME checksums; a server that refuses that
// gets the request again without, and checksums stay off for this client.
func (m *Minio) CreateUpload(ctx context.Context, obj Object, opts ObjectOptions) (string, error) {
	if err := checkBucket(obj.Bucket); err != nil {
		return "", fmt.Errorf("storage: create upload of %s: %w", obj, err)
	}
	po, err := m.putOptions(opts)
	if err != nil {
		return "", fmt.Errorf("storage: create upload of %s: %w", obj, err)
	}
	create := func(checksum bool) (string, error) {
		o := po
		if checksum {
			o.UserMetadata = withChecksumHeaders(o.UserMetadata, map[string]string{
				amzChecksumAlgorithm: "CRC64NVME", amzChecksumType: "FULL_OBJECT"})
		}
		return m.core.NewMultipartUpload(ctx, obj.Bucket, obj.Key, o)
	}
	id, err := withChecksumFallback(m, create)
	if err != nil {
		return "", fmt.Errorf("storage: create upload of %s: %w", obj, translate(err))
	}
	if id == "" {
		return "", fmt.Errorf("storage: create upload of %s: server returned no upload ID", obj)
	}
	return id, nil
}

// UploadPart implements Multipart.
func (m *Minio) UploadPart(ctx context.Context, obj Object, uploadID string, number int, body []byte, opts ObjectOptions) (Part, error) {
	if err := checkBucket(obj.Bucket); err != nil {
		return Part{}, fmt.Errorf("storage: upload part %d of %s: %w", number, obj, err)
	}
	if number < 1 || number > MaxParts {
		return Part{}, fmt.Errorf("storage: upload part %d of %s: part number not in [1, %d]", number, obj, MaxParts)
	}
	sse, err := m.sse(opts.SSE)
	if err != nil {
		return Part{}, fmt.Errorf("storage: upload part %d of %s: %w", number, obj, err)
	}
	hexSum, b64Sum := contentMD5(body)
	crc := CRC64NVME(body)
	upload := func(checksum bool) (Part, error) {
		h := http.Header{}
		if checksum {
			h.Set(amzChecksumCRC64NVME, crc)
		}
		// The body is an io.Seeker, so minio-go rewinds and retries it; it is ended before
		// the call returns, so the caller may reuse its bytes.
		r := m.body(ctx, body)
		defer r.end()
		res, err := m.core.PutObjectPart(ctx, obj.Bucket, obj.Key, uploadID, number,
			r, int64(len(body)), minio.PutObjectPartOptions{
				Md5Base64:            b64Sum,
				DisableContentSha256: true,
				SSE:                  sse,
				CustomHeader:         h,
			})
		if err != nil {
			return Part{}, err
		}
		p := Part{Number: number, ETag: NormalizeETag(res.ETag), Size: int64(len(body)), MD5: hexSum}
		if checksum {
			p.CRC64NVME = crc
		}
		return p, nil
	}
	part, err := withChecksumFallback(m, upload)
	if err != nil {
		return Part{}, fmt.Errorf("storage: upload part %d of %s: %w", number, obj, translate(err))
	}
	if part.ETag == "" {
		return Part{}, fmt.Errorf("storage: upload part %d of %s: server returned no ETag", number, obj)
	}
	return part, nil
}

// ListParts implements Multipart. Listed parts have no MD5 (S3 does not say
// what was sent); their CRC64NVME is the server's when it has one.
func (m *Minio) ListParts(ctx context.Context, obj Object, uploadID string) ([]Part, error) {
	if err := checkBucket(obj.Bucket); err != nil {
		return nil, fmt.Errorf("storage: list parts of %s: %w", obj, err)
	}
	var parts []Part
	marker := 0
	for {
		res, err := m.core.ListObjectParts(ctx, obj.Bucket, obj.Key, uploadID, marker, m.partsPageSize)
		if err != nil {
			return nil, fmt.Errorf("storage: list parts of %s: %w", obj, translate(err))
		}
		for _, p := range res.ObjectParts {
			parts = append(parts, Part{Number: p.PartNumber, ETag: NormalizeETag(p.ETag), Size: p.Size,
				CRC64NVME: p.ChecksumCRC64NVME})
		}
		if !res.IsTruncated {
			return parts, nil
		}
		next := res.NextPartNumberMarker
		if next == 0 && len(res.ObjectParts) > 0 {
			next = res.ObjectParts[len(res.ObjectParts)-1].PartNumber
		}
		if next <= marker {
			return nil, fmt.Errorf("storage: list parts of %s: truncated page without a later marker (%d after %d)", obj, next, marker)
		}
		marker = next
	}
}

// CompleteUpload implements Multipart.
func (m *Minio) CompleteUpload(ctx context.Context, obj Object, uploadID string, parts []Part, opts ObjectOptions) (string, error) {
	if err := checkBucket(obj.Bucket); err != nil {
		return "", fmt.Errorf("storage: complete upload of %s: %w", obj, err)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("storage: complete upload of %s: %w: no parts", obj, ErrInvalidPart)
	}
	sse, err := m.sse(opts.SSE)
	if err != nil {
		return "", fmt.Errorf("storage: complete upload of %s: %w", obj, err)
	}
	sorted := slices.SortedFunc(slices.Values(parts), func(a, b Part) int { return a.Number - b.Number })
	complete := make([]minio.CompletePart, len(sorted))
	for i, p := range sorted {
		if i > 0 && p.Number == sorted[i-1].Number {
			return "", fmt.Errorf("storage: complete upload of %s: %w: part %d given twice", obj, ErrInvalidPart, p.Number)
		}
		complete[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag, ChecksumCRC64NVME: p.CRC64NVME}
	}
	po := minio.PutObjectOptions{}
	if sse != nil && sse.Type() == encrypt.SSEC {
		po.ServerSideEncryption = sse // the SSE-C key goes with every request
	}
	if full, ok := FullObjectCRC64NVME(sorted); ok {
		po.UserMetadata = map[string]string{amzChecksumCRC64NVME: full, amzChecksumType: "FULL_OBJECT"}
	} else {
		for i := range complete {
			complete[i].ChecksumCRC64NVME = "" // all or nothing
		}
	}
	res, err := m.core.CompleteMultipartUpload(ctx, obj.Bucket, obj.Key, uploadID, complete, po)
	if err != nil {
		return "", fmt.Errorf("storage: complete upload of %s: %w", obj, translate(err))
	}
	return NormalizeETag(res.ETag), nil
}

// AbortUpload implements Multipart.
func (m *Minio) AbortUpload(ctx context.Context, obj Object, uploadID string) error {
	if err := checkBucket(obj.Bucket); err != nil {
		return fmt.Errorf("storage: abort upload of %s: %w", obj, err)
	}
	if err := m.core.AbortMultipartUpload(ctx, obj.Bucket, obj.Key, uploadID); err != nil {
		return fmt.Errorf("storage: abort upload of %s: %w", obj, translate(err))
	}
	return nil
}

// PutObject implements Multipart.
func (m *Minio) PutObject(ctx context.Context, obj Object, body []byte, opts ObjectOptions) (Part, error) {
	if err := checkBucket(obj.Bucket); err != nil {
		return Part{}, fmt.Errorf("storage: put %s: %w", obj, err)
	}
	if int64(len(body)) > MaxPartSize {
		return Part{}, fmt.Errorf("storage: put %s: %d bytes exceed the single PUT limit %d", obj, len(body), MaxPartSize)
	}
	po, err := m.putOptions(opts)
	if err != nil {
		return Part{}, fmt.Errorf("storage: put %s: %w", obj, err)
	}
	hexSum, b64Sum := contentMD5(body)
	crc := CRC64NVME(body)
	put := func(checksum bool) (Part, error) {
		o := po
		if checksum {
			o.UserMetadata = withChecksumHeaders(o.UserMetadata, map[string]string{amzChecksumCRC64NVME: crc})
		}
		r := m.body(ctx, body)
		defer r.end()
		res, err := m.core.PutObject(ctx, obj.Bucket, obj.Key, r, int64(len(body)), b64Sum, "", o)
		if err != nil {
			return Part{}, err
		}
		p := Part{Number: 1, ETag: NormalizeETag(res.ETag), Size: int64(len(body)), MD5: hexSum}
		if checksum {
			p.CRC64NVME = crc
		}
		return p, nil
	}
	part, err := withChecksumFallback(m, put)
	if err != nil {
		return Part{}, fmt.Errorf("storage: put %s: %w", obj, translate(err))
	}
	return part, nil
}

// StatObject implements Multipart.
func (m *Minio) StatObject(ctx context.Context, obj Object, opts ObjectOptions) (ObjectInfo, error) {
	if err := checkBucket(obj.Bucket); err != nil {
		return ObjectInfo{}, fmt.Errorf("storage: stat %s: %w", obj, err)
	}
	sse, err := m.sse(opts.SSE)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("storage: stat %s: %w", obj, err)
	}
	so := minio.StatObjectOptions{Checksum: !m.noChecksums.Load()}
	if sse != nil && sse.Type() == encrypt.SSEC {
		so.ServerSideEncryption = sse
	}
	info, err := m.core.StatObject(ctx, obj.Bucket, obj.Key, so)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("storage: stat %s: %w", obj, translate(err))
	}
	return ObjectInfo{
		Size:         info.Size,
		ETag:         NormalizeETag(info.ETag),
		ContentType:  info.ContentType,
		LastModified: info.LastModified,
		CRC64NVME:    info.ChecksumCRC64NVME,
		ChecksumType: info.ChecksumMode,
		Metadata:     lowerKeys(info.UserMetadata),
	}, nil
}

// lowerKeys returns m with its keys in lower case (minio-go canonicalizes them as headers).
func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// ListUploads implements Multipart.
//
// versitygw (v1.8.0, posix backend) answers 400 InvalidArgument "Invalid
// uploadId marker" to the NextUploadIdMarker it returned itself. On that
// answer ListUploads pages by key marker alone from then on, which can miss
// further uploads of the key that ends a page (at most one key per page of
// 1000); a later listing finds them.
func (m *Minio) ListUploads(ctx context.Context, bucket, prefix string) ([]Upload, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, fmt.Errorf("storage: list uploads in %s: %w", bucket, err)
	}
	var uploads []Upload
	var keyMarker, idMarker string
	keyOnly := false
	for {
		res, err := m.core.ListMultipartUploads(ctx, bucket, prefix, keyMarker, idMarker, "", m.uploadsPageSize)
		if err != nil && idMarker != "" && rejectsUploadIDMarker(err) {
			keyOnly, idMarker = true, ""
			res, err = m.core.ListMultipartUploads(ctx, bucket, prefix, keyMarker, "", "", m.uploadsPageSize)
		}
		if err != nil {
			return nil, fmt.Errorf("storage: list uploads in %s: %w", bucket, translate(err))
		}
		for _, u := range res.Uploads {
			uploads = append(uploads, Upload{
				Object:    Object{Bucket: bucket, Key: u.Key},
				UploadID:  u.UploadID,
				Initiated: u.Initiated,
			})
		}
		if !res.IsTruncated {
			return uploads, nil
		}
		nextKey, nextID := res.NextKeyMarker, res.NextUploadIDMarker
		if nextKey == "" && len(res.Uploads) > 0 {
			last := res.Uploads[len(res.Uploads)-1]
			nextKey, nextID = last.Key, last.UploadID
		}
		if keyOnly {
			nextID = ""
		}
		if nextKey == keyMarker && nextID == idMarker {
			return nil, fmt.Errorf("storage: list uploads in %s: truncated page without a new marker", bucket)
		}
		keyMarker, idMarker = nextKey, nextID
	}
}

// rejectsUploadIDMarker reports whether err is a server's refusal of an
// upload-id-marker.
func rejectsUploadIDMarker(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && resp.StatusCode == http.StatusBadRequest && resp.Code == "InvalidArgument"
}

// BucketExists implements Multipart.
func (m *Minio) BucketExists(ctx context.Context, bucket string) (bool, error) {
	if err := checkBucket(bucket); err != nil {
		return false, fmt.Errorf("storage: bucket exists %s: %w", bucket, err)
	}
	ok, err := m.core.BucketExists(ctx, bucket)
	if err != nil {
		return false, fmt.Errorf("storage: bucket exists %s: %w", bucket, translate(err))
	}
	return ok, nil
}
