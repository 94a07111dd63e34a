// Package manifest reads migration manifests: JSON Lines, one object per line,
//
//	{"source": "photos/a.jpg", "key": "2024/a.jpg", "bucket": "b", "content_type": "image/jpeg", "metadata": {"owner": "ops"}}
//
// where source (a path relative to the volume root, or an http(s) URL) and key are required
// and bucket, content_type and metadata are optional. Blank lines are ignored; a line may end
// in "\r\n".
//
// # Implementation
//
// A manifest is streamed: memory stays flat however many lines it has. A File can be read
// more than once (a validation pass, then the enqueue pass), so input that cannot be read
// twice (stdin, a pipe) is first spooled to a temporary file. Each complete pass hashes the
// content; a pass that finds different content than the one before it ends with ErrChanged.
//
// Parsing a line checks its JSON shape only; client.MigrateRequest.Resolve checks what the
// fields say (key length, bucket name, paths, URLs, metadata).
package manifest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strconv"
	"strings"

	"github.com/partflow/partflow/client"
)

// MaxLineBytes is the longest manifest line accepted.
const MaxLineBytes = 1 << 20

// ErrChanged ends a pass over a manifest whose content differs from the previous pass's.
var ErrChanged = errors.New("manifest: the manifest changed between passes")

// Line is one manifest line as written.
type Line struct {
	Source      string            `json:"source"`
	Key         string            `json:"key"`
	Bucket      string            `json:"bucket,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	// The object options (sse, sse_kms_key_id, sse_c_key, storage_class, tags, cache_control,
	// content_encoding, content_disposition) override the command's flags, one by one.
	client.ObjectOptions
}

// ParseLine parses line number n (counted from 1, without its line break) into an item. A
// line that is not a JSON object of the manifest's fields is an *client.ItemError naming the
// line.
func ParseLine(n int64, b []byte) (client.MigrationItem, error) {
	where := "line " + strconv.FormatInt(n, 10)
	var l Line
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return client.MigrationItem{Where: where}, &client.ItemError{Where: where, Err: jsonError(err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return client.MigrationItem{Where: where}, &client.ItemError{Where: where,
			Err: errors.New("invalid JSON: more than one value on the line")}
	}
	return client.MigrationItem{Source: l.Source, Key: l.Key, Bucket: l.Bucket, ContentType: l.ContentType,
		Metadata: l.Metadata, Options: l.ObjectOptions, Where: where}, nil
}

// jsonError says what is wrong with a line in words that do not mention Go types.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return fmt.Errorf("invalid JSON: want an object, got %s", typeErr.Value)
	case errors.As(err, &typeErr) && strings.HasPrefix(typeErr.Field, "metadata"):
		return fmt.Errorf(`"metadata" must be an object of strings, got %s in %q`, typeErr.Value, typeErr.Field)
	case errors.As(err, &typeErr):
		return fmt.Errorf("%q must be a string, got %s", typeErr.Field, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("invalid JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: the object is not complete")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field") {
		return fmt.Errorf("%s (want source, key, bucket, content_type, metadata)", msg)
	}
	return fmt.Errorf("invalid JSON: %s", msg)
}

// File is a manifest on disk that can be read more than once.
type File struct {
	path    string
	spooled bool   // path is our temporary copy: Close removes it
	sum     string // SHA-256 of the content of the last complete pass
	lines   int64  // lines in the last complete pass
}

// Open opens the manifest at path. A path that is not a regular file (a pipe, /dev/stdin)
// is spooled to a temporary file in tmpDir ("" for the default).
func Open(path, tmpDir string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if st.Mode().IsRegular() {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		f.Close()
		return &File{path: path}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	return Spool(f, tmpDir)
}

// Spool copies r (stdin, say) to a temporary file in tmpDir ("" for the default) and returns
// it as a File; Close removes the copy.
func Spool(r io.Reader, tmpDir string) (*File, error) {
	tmp, err := os.CreateTemp(tmpDir, "partflow-manifest-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("manifest: spool: %w", err)
	}
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("manifest: spool: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("manifest: spool: %w", err)
	}
	return &File{path: tmp.Name(), spooled: true}, nil
}

// Close removes a spooled copy; it does nothing to a manifest that was opened in place.
func (f *File) Close() error {
	if f.spooled {
		return os.Remove(f.path)
	}
	return nil
}

// SHA256 is the hex SHA-256 of the content read by the last complete pass ("" before one).
func (f *File) SHA256() string { return f.sum }

// Lines is how many lines the last complete pass read.
func (f *File) Lines() int64 { return f.lines }

// Items reads the manifest from the start, yielding an item per non-blank line; a bad line
// is an *client.ItemError (wrapping client.ErrInvalid). Reading errors and ErrChanged end
// the pass with an error that does not wrap client.ErrInvalid. A File's passes must not run
// concurrently.
func (f *File) Items() iter.Seq2[client.MigrationItem, error] {
	return func(yield func(client.MigrationItem, error) bool) {
		fh, err := os.Open(f.path)
		if err != nil {
			yield(client.MigrationItem{}, fmt.Errorf("manifest: %w", err))
			return
		}
		defer fh.Close()
		h := sha256.New()
		lr := newLineReader(io.TeeReader(fh, h))
		var n int64
		for {
			line, tooLong, err := lr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				yield(client.MigrationItem{}, fmt.Errorf("manifest: read line %d: %w", n+1, err))
				return
			}
			n++
			if n == 1 {
				line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
			}
			var it client.MigrationItem
			switch {
			case tooLong:
				where := "line " + strconv.FormatInt(n, 10)
				it, err = client.MigrationItem{Where: where}, &client.ItemError{Where: where,
					Err: fmt.Errorf("longer than %d bytes", MaxLineBytes)}
			case len(bytes.TrimSpace(line)) == 0:
				continue
			default:
				it, err = ParseLine(n, line)
			}
			if !yield(it, err) {
				return
			}
		}
		sum := hex.EncodeToString(h.Sum(nil))
		if f.sum != "" && sum != f.sum {
			yield(client.MigrationItem{}, fmt.Errorf("%w (SHA-256 was %s, now %s)", ErrChanged, f.sum, sum))
			return
		}
		f.sum, f.lines = sum, n
	}
}

// lineReader reads lines of at most MaxLineBytes with one reused buffer.
type lineReader struct {
	br  *bufio.Reader
	buf []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line without its "\n" or "\r\n" (valid until the next call), or
// tooLong for a line longer than MaxLineBytes (whose bytes are dropped), or io.EOF.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.br.ReadSlice('\n')
		if !tooLong {
			if len(l.buf)+len(chunk) > MaxLineBytes+2 { // +2: the line break
				tooLong, l.buf = true, l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && (len(l.buf) > 0 || tooLong):
			// The last line has no line break.
		case err != nil:
			return nil, false, err
		}
		if tooLong {
			return nil, true, nil
		}
		line = bytes.TrimSuffix(l.buf, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > MaxLineBytes {
			return nil, true, nil
		}
		return line, false, nil
	}
}
