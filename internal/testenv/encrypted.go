package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// EmulateEncryptedBucket makes the proxy behave like an encrypted bucket (AWS SSE-KMS or
// SSE-C, MinIO with KMS): every UploadPart and PutObject is answered with a random ETag that
// is not the MD5 of the body, HEAD and GET answer an opaque object ETag, and ListParts lists
// the parts' random ETags. The proxy remembers the server's real ETag of the last upload of
// each part and puts it back into a CompleteMultipartUpload body (re-signed with the given
// credentials, as the body is signed); a stale random ETag is passed on untranslated, so the
// server refuses it (InvalidPart), as AWS refuses the ETag of a part uploaded again since.
func (p *Proxy) EmulateEncryptedBucket(accessKey, secretKey string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.encrypted = &encryption{accessKey: accessKey, secretKey: secretKey, parts: map[string]etagPair{}}
}

// RefuseChecksums makes the proxy answer 501 NotImplemented to every PUT and POST that
// carries an S3 additional-checksum header (x-amz-checksum-*, x-amz-sdk-checksum-algorithm),
// as servers without additional-checksum support do.
func (p *Proxy) RefuseChecksums() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuseChecksums = true
}

// HideCompletedObjects makes HEAD and GET of a key answer 404 NoSuchKey for d after a
// CompleteMultipartUpload of that key succeeded at the server: an object that becomes
// visible late.
func (p *Proxy) HideCompletedObjects(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hideFor = d
}

// Headers returns the request headers of every exchange of op so far, in completion order.
func (p *Proxy) Headers(op Op) []http.Header {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []http.Header
	for _, e := range p.exchanges {
		if e.Op == op {
			out = append(out, e.Header)
		}
	}
	return out
}

// encryption is the state of an emulated encrypted bucket.
type encryption struct {
	accessKey, secretKey string
	parts                map[string]etagPair // uploadID/part -> the last upload's ETags
}

type etagPair struct{ fake, real string }

func partKey(uploadID string, n int) string { return uploadID + "/" + strconv.Itoa(n) }

// randomETag is a quoted random 32-hex-digit ETag: the shape of an MD5, but not the body's.
func randomETag() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return `"` + hex.EncodeToString(b) + `"`
}

// opaqueETag is a stable non-MD5 ETag for an object's real ETag.
func opaqueETag(real string) string {
	sum := sha256.Sum256([]byte("partflow-encrypted:" + real))
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

var (
	partBlock  = regexp.MustCompile(`(?s)<Part>.*?</Part>`)
	partNumber = regexp.MustCompile(`<PartNumber>(\d+)</PartNumber>`)
	etagElem   = regexp.MustCompile(`<ETag>([^<]*)</ETag>`)
)

// rewriteParts calls etag(part number, ETag) for every <Part> of an XML body and puts its
// answer in place of the ETag.
func rewriteParts(body []byte, etag func(n int, old string) string) []byte {
	return partBlock.ReplaceAllFunc(body, func(block []byte) []byte {
		m := partNumber.FindSubmatch(block)
		if m == nil {
			return block
		}
		n, _ := strconv.Atoi(string(m[1]))
		return etagElem.ReplaceAllFunc(block, func(e []byte) []byte {
			old := string(etagElem.FindSubmatch(e)[1])
			return []byte("<ETag>" + etag(n, old) + "</ETag>")
		})
	})
}

func unquote(etag string) string {
	etag = strings.ReplaceAll(etag, "&#34;", `"`)
	etag = strings.ReplaceAll(etag, "&quot;", `"`)
	return strings.Trim(etag, `"`)
}

// resignKey marks a request whose body the proxy changed: Rewrite signs it again.
type resignKey struct{}

// translateComplete puts the real part ETags into a CompleteMultipartUpload body.
func (p *Proxy) translateComplete(r *http.Request, ex Exchange) (*http.Request, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	enc := p.encrypted
	body = rewriteParts(body, func(n int, old string) string {
		if pair, ok := enc.parts[partKey(ex.UploadID, n)]; ok && unquote(old) == pair.fake {
			return pair.real
		}
		return old
	})
	p.mu.Unlock()
	r = r.WithContext(context.WithValue(r.Context(), resignKey{}, enc))
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	sum := sha256.Sum256(body)
	r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	return r, nil
}

// resign signs an outgoing request again, after translateComplete changed its body.
func resign(out *http.Request, enc *encryption) {
	out.Header.Del("Authorization")
	out.Header.Del("Content-Length") // net/http writes it from ContentLength
	signed := signer.SignV4(*out, enc.accessKey, enc.secretKey, "", "us-east-1")
	out.Header = signed.Header
}

// modifyResponse applies the emulations to the server's answer.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	ex := classify(resp.Request)
	p.mu.Lock()
	enc := p.encrypted
	if ex.Op == OpCompleteMultipartUpload && resp.StatusCode == http.StatusOK {
		if p.emulateMinIO {
			p.completedUpload[ex.UploadID] = true // as soon as the server has done it
		}
		if p.hideFor > 0 {
			p.hiddenUntil[ex.Key] = time.Now().Add(p.hideFor)
		}
	}
	p.mu.Unlock()
	if enc == nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	switch ex.Op {
	case OpUploadPart:
		fake := randomETag()
		p.mu.Lock()
		enc.parts[partKey(ex.UploadID, ex.PartNumber)] = etagPair{fake: unquote(fake), real: resp.Header.Get("ETag")}
		p.mu.Unlock()
		resp.Header.Set("ETag", fake)
	case OpPutObject:
		resp.Header.Set("ETag", randomETag())
	case OpHeadObject, OpGetObject:
		if real := resp.Header.Get("ETag"); real != "" {
			resp.Header.Set("ETag", opaqueETag(real))
		}
	case OpListParts:
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		p.mu.Lock()
		body = rewriteParts(body, func(n int, old string) string {
			if pair, ok := enc.parts[partKey(ex.UploadID, n)]; ok {
				return `"` + pair.fake + `"`
			}
			return old
		})
		p.mu.Unlock()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	return nil
}

// hidden reports whether HEAD or GET of key must answer 404 for now.
func (p *Proxy) hidden(ex Exchange) bool {
	if ex.Op != OpHeadObject && ex.Op != OpGetObject {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.hiddenUntil[ex.Key]
	return ok && time.Now().Before(until)
}

// carriesChecksum reports whether r is a write carrying an additional-checksum header.
func carriesChecksum(r *http.Request) bool {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		return false
	}
	for k := range r.Header {
		k = strings.ToLower(k)
		if strings.HasPrefix(k, "x-amz-checksum-") || k == "x-amz-sdk-checksum-algorithm" {
			return true
		}
	}
	return false
}
