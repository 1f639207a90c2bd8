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
	path []string
}

// New reads JSON from r.
func New(r io.Reader) *Decoder {
	d := json.NewDecoder(r)
	d.UseNumber()
	return &Decoder{d: d, path: []string{"$"}}
}

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
func (d *Decoder) More() bool { return d.d.More() }

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
		tok, err := d.d.Token()
		if err != nil {
			return d.wrap(err)
		}
		if delim, ok := tok.(json.Delim); ok {
			switch delim {
			case '{', '[':
				depth++
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
