// Package feed is what a migration's feeder reads: listings of resolved items, read in
// batches after a checkpointed position.
//
// # Listings
//
// A Listing returns the items after a position, which it encodes as an opaque string the
// feeder stores in Redis as its checkpoint. The one kind today is a feed file: JSON Lines of
// resolved items (final bucket and key, content type, fingerprint) on the shared volume,
// written by the enqueuer (see Writer) under .partflow/manifests/<sha256>.jsonl; its position
// is "<byte offset>:<line number>". The other is an S3 prefix of the workers' source store
// (KindS3, see S3), listed by the feeder itself after the last key it listed, with the
// migration's filter; its items are source keys made uploads by the spec's bucket, prefix
// and options. Mux opens each kind with its Opener.
//
// # Considerations
//
// A feed file is named by the SHA-256 of its content and never rewritten, so a position
// stays meaningful across feeder restarts; the file must outlive its migration's feeding.
package feed

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/partflow/partflow/internal/state"
)

// KindFile is a feed file on the shared volume.
const KindFile = "file"

// Dir is where feed files live, relative to the volume root.
const Dir = ".partflow/manifests"

// Item is one resolved item of a migration.
type Item struct {
	Source      string              `json:"source"`
	Bucket      string              `json:"bucket"`
	Key         string              `json:"key"`
	ContentType string              `json:"content_type,omitempty"`
	Metadata    map[string]string   `json:"metadata,omitempty"`
	Options     state.ObjectOptions `json:"options,omitzero"`
	Fingerprint string              `json:"fingerprint,omitempty"`
}

// Listing reads a migration's items in order.
type Listing interface {
	// List returns up to n items after position pos ("" for the start), the position after
	// the last of them, and whether the listing ends there.
	List(ctx context.Context, pos string, n int) (items []Item, next string, end bool, err error)
	Close() error
}

// Opener opens the listing a feed spec names.
type Opener interface {
	Open(ctx context.Context, spec state.FeedSpec) (Listing, error)
}

// Volume opens feed files on the shared volume.
type Volume struct {
	Root *os.Root
}

var _ Opener = Volume{}

// Open opens the feed file spec names.
func (v Volume) Open(_ context.Context, spec state.FeedSpec) (Listing, error) {
	if spec.Kind != KindFile {
		return nil, fmt.Errorf("feed: listing kind %q is not known to this worker", spec.Kind)
	}
	if v.Root == nil {
		return nil, errors.New("feed: a feed file needs the worker's --volume-root")
	}
	f, err := v.Root.Open(spec.Location)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	return &file{f: f}, nil
}

// file is a feed file's listing.
type file struct{ f *os.File }

func (l *file) Close() error { return l.f.Close() }

// List reads up to n lines after pos ("<offset>:<line>").
func (l *file) List(ctx context.Context, pos string, n int) ([]Item, string, bool, error) {
	off, line, err := parsePosition(pos)
	if err != nil {
		return nil, "", false, err
	}
	if _, err := l.f.Seek(off, io.SeekStart); err != nil {
		return nil, "", false, fmt.Errorf("feed: %w", err)
	}
	br := bufio.NewReaderSize(l.f, 64<<10)
	var items []Item
	for len(items) < n {
		if err := ctx.Err(); err != nil {
			return nil, "", false, err
		}
		b, err := br.ReadBytes('\n')
		if err == io.EOF && len(b) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return nil, "", false, fmt.Errorf("feed: line %d: %w", line+1, err)
		}
		off += int64(len(b))
		line++
		var it Item
		if err := json.Unmarshal(b, &it); err != nil {
			return nil, "", false, fmt.Errorf("feed: line %d: %w", line, err)
		}
		items = append(items, it)
	}
	_, err = br.Peek(1)
	return items, strconv.FormatInt(off, 10) + ":" + strconv.FormatInt(line, 10), err == io.EOF, nil
}

func parsePosition(pos string) (off, line int64, err error) {
	if pos == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(pos, ":")
	off, err1 := strconv.ParseInt(a, 10, 64)
	line, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || off < 0 || line < 0 {
		return 0, 0, fmt.Errorf("feed: bad position %q: want <offset>:<line>", pos)
	}
	return off, line, nil
}

// Writer writes a feed file onto the shared volume: Add every item, then Commit.
type Writer struct {
	root  *os.Root
	tmp   *os.File
	bw    *bufio.Writer
	hash  hash.Hash
	Items int64
}

// NewWriter starts a feed file in the volume's Dir.
func NewWriter(root *os.Root) (*Writer, error) {
	if err := root.MkdirAll(Dir, 0o755); err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	name := path.Join(Dir, ".tmp-"+state.NewMigrationID()+".jsonl")
	tmp, err := root.Create(name)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	w := &Writer{root: root, tmp: tmp}
	h := sha256.New()
	w.bw = bufio.NewWriterSize(io.MultiWriter(tmp, h), 64<<10)
	w.hash = h
	return w, nil
}

// Add appends an item.
func (w *Writer) Add(it Item) error {
	b, err := json.Marshal(it)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.bw.Write(b); err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	w.Items++
	return nil
}

// Commit finishes the file and names it by its content; it returns its path relative to the
// volume root. An identical file written before is kept.
func (w *Writer) Commit() (string, error) {
	tmpName := path.Join(Dir, path.Base(w.tmp.Name()))
	err := w.bw.Flush()
	if err == nil {
		err = w.tmp.Sync()
	}
	if cerr := w.tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = w.root.Remove(tmpName)
		return "", fmt.Errorf("feed: %w", err)
	}
	name := path.Join(Dir, hex.EncodeToString(w.hash.Sum(nil))+".jsonl")
	if err := w.root.Rename(tmpName, name); err != nil {
		_ = w.root.Remove(tmpName)
		return "", fmt.Errorf("feed: %w", err)
	}
	return name, nil
}

// Abort drops an unfinished file.
func (w *Writer) Abort() {
	w.tmp.Close()
	_ = w.root.Remove(path.Join(Dir, path.Base(w.tmp.Name())))
}
