// Package jsonstream walks a large JSON document one value at a time, so a
// decoder holds only the element it is looking at, never the whole document.
// Errors name the JSON path and the byte offset where parsing failed.
package jsonstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Decoder wraps encoding/json's token stream with path tracking.
type Decoder struct {
	d    *json.Decoder
	in   *MarkReader
	path []string
}

// MaxValue bounds the bytes read for one array element, object member or
// skipped token: encoding/json buffers a whole value, so a single huge
// string or result would otherwise be held in memory at once.
const MaxValue = 64 << 20

// ErrValueTooLarge is returned for a value past MaxValue.
var ErrValueTooLarge = errors.New("a single value (JSON value or XML element) is larger than 64 MiB")

// MaxDepth bounds nesting in skipped values as encoding/json bounds it in
// decoded ones (10000 levels), so every value the collector reads has one limit.
const MaxDepth = 10000

// ErrTooDeep is returned for a value nested deeper than MaxDepth.
var ErrTooDeep = errors.New("JSON nested deeper than 10000 levels")

// New reads JSON from r.
func New(r io.Reader) *Decoder {
	in := &MarkReader{R: r}
	d := json.NewDecoder(in)
	d.UseNumber()
	return &Decoder{d: d, in: in, path: []string{"$"}}
}

// MarkReader fails once more than MaxValue bytes are read since the last
// Mark: a streaming decoder marks each value it starts, so no single value
// is held past the bound.
type MarkReader struct {
	R     io.Reader
	since int64
}

func (m *MarkReader) Read(p []byte) (int, error) {
	if m.since > MaxValue {
		return 0, ErrValueTooLarge
	}
	n, err := m.R.Read(p)
	m.since += int64(n)
	return n, err
}

// Mark starts a new value: what the decoder has buffered ahead counts already.
func (m *MarkReader) Mark() { m.since = 0 }

func (d *Decoder) mark() { d.in.Mark() }

// Error is a parse failure at a place in the document.
type Error struct {
	Path   string
	Offset int64
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("at %s (byte %d): %v", e.Path, e.Offset, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// pathString is the JSON path of the value being read, like $.runs[0].results[12].
func (d *Decoder) pathString() string { return strings.Join(d.path, "") }

// Errorf builds an Error at the current place.
func (d *Decoder) Errorf(format string, args ...any) error {
	return &Error{Path: d.pathString(), Offset: d.d.InputOffset(), Err: fmt.Errorf(format, args...)}
}

func (d *Decoder) wrap(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &Error{Path: d.pathString(), Offset: d.d.InputOffset(), Err: err}
}

// More reports whether another element follows in the current array or object.
// It starts a new value for the MaxValue bound.
func (d *Decoder) More() bool {
	d.mark()
	return d.d.More()
}

// Object reads an object, calling fn for each key; fn must consume the value
// (Decode, Object, Array or Skip). null counts as an empty object.
func (d *Decoder) Object(fn func(key string) error) error {
	tok, err := d.d.Token()
	if err != nil {
		return d.wrap(err)
	}
	if tok == nil {
		return nil
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return d.Errorf("want an object, got %s", describe(tok))
	}
	for d.d.More() {
		d.mark()
		tok, err := d.d.Token()
		if err != nil {
			return d.wrap(err)
		}
		key, _ := tok.(string)
		d.path = append(d.path, "."+key)
		err = fn(key)
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return d.wrap(err)
		}
	}
	if _, err := d.d.Token(); err != nil {
		return d.wrap(err)
	}
	return nil
}

// Array reads an array, calling fn for each element; fn must consume it.
// null counts as an empty array.
func (d *Decoder) Array(fn func(i int) error) error {
	tok, err := d.d.Token()
	if err != nil {
		return d.wrap(err)
	}
	if tok == nil {
		return nil
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '[' {
		return d.Errorf("want an array, got %s", describe(tok))
	}
	for i := 0; d.d.More(); i++ {
		d.mark()
		d.path = append(d.path, "["+strconv.Itoa(i)+"]")
		err := fn(i)
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return d.wrap(err)
		}
	}
	if _, err := d.d.Token(); err != nil {
		return d.wrap(err)
	}
	return nil
}

// Decode reads the next value into v.
func (d *Decoder) Decode(v any) error {
	if err := d.d.Decode(v); err != nil {
		return d.wrap(err)
	}
	return nil
}

// Skip consumes the next value without keeping it.
func (d *Decoder) Skip() error {
	depth := 0
	for {
		d.mark()
		tok, err := d.d.Token()
		if err != nil {
			return d.wrap(err)
		}
		if delim, ok := tok.(json.Delim); ok {
			switch delim {
			case '{', '[':
				depth++
				if depth > MaxDepth {
					return d.wrap(ErrTooDeep)
				}
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// End checks that nothing but white space follows the value just read.
func (d *Decoder) End() error {
	tok, err := d.d.Token()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return d.Errorf("unexpected data after the end of the document: %v", err)
	}
	return d.Errorf("unexpected %s after the end of the document", describe(tok))
}

func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(t))
	case string:
		if len(t) > 40 {
			t = t[:40] + "..."
		}
		return fmt.Sprintf("string %q", t)
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%v", t)
	}
}
