package state

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// A migration ID is 1–64 characters of lowercase letters, digits, '-' and '_', starting with a
// letter or digit. It never contains '.', ':' or braces, so it is safe inside a key's hash tag
// and an upload ID can be split back into its parts.
var migrationIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// uploadNamePattern is the part of an upload ID after the migration ID.
var uploadNamePattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// NewMigrationID returns a fresh random migration ID (16 hex digits).
func NewMigrationID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// ValidateMigrationID reports whether s is a well-formed migration ID.
func ValidateMigrationID(s string) error {
	if !migrationIDPattern.MatchString(s) {
		return fmt.Errorf("state: invalid migration ID %q: want 1-64 of [a-z0-9_-], starting with a letter or digit", s)
	}
	return nil
}

// UploadID names one upload: "<migration>.<name>". Because the migration ID is part of it, the
// upload's keys (which share the migration's hash tag) can be found from the ID alone.
type UploadID struct {
	Migration string
	Name      string
}

// String returns the upload ID in its text form.
func (id UploadID) String() string { return id.Migration + "." + id.Name }

// DeriveUploadID returns the upload ID for an object of a migration: the same migration and
// parts (for example bucket, key and source) always give the same ID, so enqueueing an object
// twice is a no-op.
func DeriveUploadID(migration string, parts ...string) UploadID {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return UploadID{Migration: migration, Name: hex.EncodeToString(h.Sum(nil))[:16]}
}

// ParseUploadID parses the text form of an upload ID.
func ParseUploadID(s string) (UploadID, error) {
	mid, name, ok := strings.Cut(s, ".")
	if !ok || ValidateMigrationID(mid) != nil || !uploadNamePattern.MatchString(name) {
		return UploadID{}, fmt.Errorf("state: invalid upload ID %q: want <migration ID>.<16 hex digits>", s)
	}
	return UploadID{Migration: mid, Name: name}, nil
}

// IsUploadID reports whether s looks like an upload ID rather than a migration ID.
func IsUploadID(s string) bool { return strings.Contains(s, ".") }
