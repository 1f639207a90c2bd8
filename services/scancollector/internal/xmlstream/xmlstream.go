// Package xmlstream walks a large XML document one element at a time with
// the limits of package jsonstream: no element larger than MaxValue is held,
// and nesting past MaxDepth is an error, never a deep recursion.
package xmlstream

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// ErrTooDeep is returned for elements nested deeper than jsonstream.MaxDepth.
var ErrTooDeep = errors.New("XML nested deeper than 10000 levels")

// Decoder wraps encoding/xml's token stream with the limits and the element
// path for errors.
type Decoder struct {
	d    *xml.Decoder // reads tokens through depth, so DecodeElement is bounded too
	raw  *xml.Decoder
	in   *jsonstream.MarkReader
	path []string
}

// depthLimit passes tokens on, failing past MaxDepth open elements: a
// whole-element decode (DecodeElement) skips unknown elements without a
// bound of its own.
type depthLimit struct {
	d     *xml.Decoder
	depth int
}

func (l *depthLimit) Token() (xml.Token, error) {
	tok, err := l.d.Token()
	switch tok.(type) {
	case xml.StartElement:
		l.depth++
		if l.depth > jsonstream.MaxDepth {
			return nil, ErrTooDeep
		}
	case xml.EndElement:
		l.depth--
	}
	return tok, err
}

// New reads XML from r. Documents must be UTF-8 (or declare US-ASCII or
// ISO-8859-1, which are read as such).
func New(r io.Reader) *Decoder {
	in := &jsonstream.MarkReader{R: r}
	raw := xml.NewDecoder(in)
	raw.CharsetReader = charsetReader
	return &Decoder{d: xml.NewTokenDecoder(&depthLimit{d: raw}), raw: raw, in: in}
}

func charsetReader(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	case "iso-8859-1", "latin1", "latin-1":
		return &latin1{r: r}, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q: want UTF-8", label)
}

// latin1 converts ISO-8859-1 to UTF-8: each byte is its code point.
type latin1 struct {
	r   io.Reader
	buf []byte
}

func (l *latin1) Read(p []byte) (int, error) {
	if len(l.buf) == 0 {
		in := make([]byte, max(len(p)/2, 1))
		n, err := l.r.Read(in)
		for _, b := range in[:n] {
			l.buf = append(l.buf, string(rune(b))...)
		}
		if n == 0 {
			return 0, err
		}
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}

// Error is a parse failure at a place in the document.
type Error struct {
	Path string
	Line int
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("at /%s (line %d): %v", e.Path, e.Line, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error at the current place.
func (d *Decoder) Errorf(format string, args ...any) error {
	return d.wrap(fmt.Errorf(format, args...))
}

func (d *Decoder) wrap(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	line, _ := d.raw.InputPos()
	path := d.path
	if len(path) > 8 {
		// A deep path says little past its ends.
		path = append(append(slices.Clip(path[:3]), fmt.Sprintf("...(%d levels)...", len(path)-5)), path[len(path)-2:]...)
	}
	return &Error{Path: strings.Join(path, "/"), Line: line, Err: err}
}

// Next returns the next start element, or io.EOF at the end of the
// document. The elements it passes over are left by End elements.
func (d *Decoder) Next() (*xml.StartElement, error) {
	for {
		d.in.Mark()
		tok, err := d.d.Token()
		if errors.Is(err, io.EOF) {
			if len(d.path) > 0 {
				return nil, d.wrap(io.ErrUnexpectedEOF)
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, d.wrap(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			d.path = append(d.path, t.Name.Local)
			return &t, nil
		case xml.EndElement:
			d.path = d.path[:len(d.path)-1]
		}
	}
}

// Depth is the number of elements open, the one Next returned included.
func (d *Decoder) Depth() int { return len(d.path) }

// Decode reads the element Next just returned, whole, into v.
func (d *Decoder) Decode(v any, start *xml.StartElement) error {
	d.in.Mark()
	if err := d.d.DecodeElement(v, start); err != nil {
		return d.wrap(err)
	}
	d.path = d.path[:len(d.path)-1]
	return nil
}
