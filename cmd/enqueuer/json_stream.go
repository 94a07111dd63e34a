package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

// jsonStream writes one indented JSON document piece by piece, so a report with millions of
// failed uploads or a manifest with millions of bad lines is printed without being held in
// memory. Errors are sticky: see err.
type jsonStream struct {
	w       *bufio.Writer
	count   []int  // elements written so far at each open level
	closers []byte // '}' or ']' for each open level
	err     error
}

func newJSONStream(w io.Writer) *jsonStream { return &jsonStream{w: bufio.NewWriter(w)} }

func (s *jsonStream) write(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (s *jsonStream) indent() string { return strings.Repeat("  ", len(s.count)) }

// element starts an element of the open object (name) or array (name == "").
func (s *jsonStream) element(name string) {
	if len(s.count) == 0 {
		return
	}
	if s.count[len(s.count)-1] > 0 {
		s.write([]byte(","))
	}
	s.count[len(s.count)-1]++
	s.write([]byte("\n" + s.indent()))
	if name != "" {
		b, _ := json.Marshal(name)
		s.write(append(b, ": "...))
	}
}

// value writes a whole value.
func (s *jsonStream) value(name string, v any) {
	s.element(name)
	b, err := json.MarshalIndent(v, s.indent(), "  ")
	if err != nil && s.err == nil {
		s.err = err
	}
	s.write(b)
}

// begin opens an object ('{') or array ('[').
func (s *jsonStream) begin(name string, open byte) {
	s.element(name)
	s.write([]byte{open})
	s.count = append(s.count, 0)
	s.closers = append(s.closers, map[byte]byte{'{': '}', '[': ']'}[open])
}

// beginWith opens an object holding the fields of v (a struct or map marshaling to an
// object), to which more fields can be added before end.
func (s *jsonStream) beginWith(name string, v any) {
	s.element(name)
	b, err := json.MarshalIndent(v, s.indent(), "  ")
	if err != nil && s.err == nil {
		s.err = err
	}
	b = bytes.TrimSuffix(b, []byte("}"))
	b = bytes.TrimRight(b, " \n")
	s.write(b)
	fields := 0
	if len(b) > 1 {
		fields = 1
	}
	s.count = append(s.count, fields)
	s.closers = append(s.closers, '}')
}

// end closes the innermost open object or array; closing the document flushes it.
func (s *jsonStream) end() {
	if len(s.count) == 0 {
		return
	}
	n := s.count[len(s.count)-1]
	s.count = s.count[:len(s.count)-1]
	if n > 0 {
		s.write([]byte("\n" + s.indent()))
	}
	s.write([]byte{s.closers[len(s.count)]})
	s.closers = s.closers[:len(s.count)]
	if len(s.count) == 0 {
		s.write([]byte("\n"))
		s.flush()
	}
}

func (s *jsonStream) flush() {
	if err := s.w.Flush(); err != nil && s.err == nil {
		s.err = err
	}
}

// closeAll closes every open level (after an error cut the document short).
func (s *jsonStream) closeAll() {
	for len(s.count) > 0 {
		s.end()
	}
}
