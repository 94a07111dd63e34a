// Package report writes a migration's complete report: one row per upload (not only the
// failures), as JSON Lines or CSV, streamed row by row so memory stays flat however many
// uploads there are. `enqueuer report` and the fleet's migration:report task both use it.
//
// Sources are shown redacted (a URL's query string, which may be a presigned signature,
// becomes "?…"), as everywhere else.
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/partflow/partflow/internal/source"
	"github.com/partflow/partflow/internal/state"
)

// Row is one upload of a migration as its report shows it.
type Row struct {
	ID     string `json:"id"`
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Source string `json:"source"`
	Size   int64  `json:"size"`
	State  string `json:"state"`
	// ETag of the completed object (S3's, as the server answered it).
	ETag string `json:"etag,omitempty"`
	// FailedAttempts counts the task attempts on the upload that ended in an error.
	FailedAttempts int64     `json:"failed_attempts"`
	Error          string    `json:"error,omitempty"`
	Skipped        bool      `json:"skipped,omitempty"` // completed because the object was already there
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
	// Duration from the upload's creation to its last change, in seconds.
	Duration float64 `json:"duration_seconds"`
}

// RowOf returns the report row of an upload record.
func RowOf(u state.Upload) Row {
	if u.Compacted {
		// A compacted completed upload (a windowed migration's) kept no source or timestamps.
		return Row{ID: u.ID.String(), Bucket: u.Bucket, Key: u.Key, Size: u.Size, State: string(u.State), ETag: u.ETag,
			Duration: u.CompactedDuration.Seconds()}
	}
	return Row{ID: u.ID.String(), Bucket: u.Bucket, Key: u.Key, Source: source.RedactSource(u.Source), Size: u.Size,
		State: string(u.State), ETag: u.ETag, FailedAttempts: u.FailedAttempts, Error: u.Error, Skipped: u.Skipped,
		Created: u.Created, Updated: u.Updated, Duration: max(u.Updated.Sub(u.Created), 0).Seconds()}
}

// Format is how a report is written.
type Format string

// The formats: JSON Lines (one object per line) and CSV (RFC 4180, with a header row).
const (
	JSONL Format = "jsonl"
	CSV   Format = "csv"
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case JSONL, CSV:
		return f, nil
	}
	return "", fmt.Errorf("report: format %q: want jsonl or csv", s)
}

// FormatForKey is the format of a report object named key: CSV for a .csv key, JSON Lines
// otherwise.
func FormatForKey(key string) Format {
	if strings.HasSuffix(strings.ToLower(key), ".csv") {
		return CSV
	}
	return JSONL
}

// ContentType is the media type of a report in format f.
func (f Format) ContentType() string {
	if f == CSV {
		return "text/csv; charset=utf-8"
	}
	return "application/x-ndjson"
}

// Header is the CSV header row, in the order of a row's columns.
var Header = []string{"id", "bucket", "key", "source", "size", "state", "etag", "failed_attempts", "error",
	"skipped", "created", "updated", "duration_seconds"}

// Writer writes rows in one format.
type Writer struct {
	format Format
	csv    *csv.Writer
	json   *json.Encoder
	header bool
}

// NewWriter returns a Writer of format f on w. Call Flush at the end.
func NewWriter(w io.Writer, f Format) *Writer {
	rw := &Writer{format: f}
	if f == CSV {
		rw.csv = csv.NewWriter(w)
	} else {
		rw.json = json.NewEncoder(w)
		rw.json.SetEscapeHTML(false)
	}
	return rw
}

// Write writes one row (after the header row, for CSV).
func (w *Writer) Write(r Row) error {
	if w.json != nil {
		if err := w.json.Encode(r); err != nil {
			return fmt.Errorf("report: write: %w", err)
		}
		return nil
	}
	if !w.header {
		w.header = true
		if err := w.csv.Write(Header); err != nil {
			return fmt.Errorf("report: write: %w", err)
		}
	}
	rec := []string{r.ID, r.Bucket, r.Key, r.Source, strconv.FormatInt(r.Size, 10), r.State, r.ETag,
		strconv.FormatInt(r.FailedAttempts, 10), r.Error, strconv.FormatBool(r.Skipped), stamp(r.Created), stamp(r.Updated),
		strconv.FormatFloat(r.Duration, 'f', 3, 64)}
	if err := w.csv.Write(rec); err != nil {
		return fmt.Errorf("report: write: %w", err)
	}
	return nil
}

// Flush writes what is buffered (and a CSV report's header when there was no row).
func (w *Writer) Flush() error {
	if w.csv == nil {
		return nil
	}
	if !w.header {
		w.header = true
		if err := w.csv.Write(Header); err != nil {
			return fmt.Errorf("report: write: %w", err)
		}
	}
	w.csv.Flush()
	if err := w.csv.Error(); err != nil {
		return fmt.Errorf("report: write: %w", err)
	}
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
