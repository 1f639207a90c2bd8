package collect

import (
	"io"
	"net/http"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DefaultMaxDepth bounds how deeply a document may nest. Real reports nest a
// few tens of levels; recursive decoders (pdata's OTLP decoder among them)
// recurse once per level, and a body nested millions of levels deep
// overflows the goroutine stack, which kills the whole process.
const DefaultMaxDepth = 128

func (l Limits) maxDepth() int {
	if l.MaxDepth > 0 {
		return l.MaxDepth
	}
	return DefaultMaxDepth
}

func (l Limits) maxDecoded() int64 {
	if l.MaxDecodedBytes > 0 {
		return l.MaxDecodedBytes
	}
	return DefaultLimits.MaxDecodedBytes
}

func tooDeep(max int, what string, at int64) *Error {
	return Errorf(http.StatusBadRequest, "body", "%s nests deeper than %d levels (at byte %d)", what, max, at)
}

// CheckJSON bounds a JSON document held in memory before it is decoded: it
// fails with ErrTooLarge past l.MaxDecodedBytes and with a 400 *Error when
// objects and arrays nest deeper than l.MaxDepth. It checks nesting only, not
// syntax; several concatenated documents (NDJSON) are fine.
func CheckJSON(b []byte, l Limits) error {
	if int64(len(b)) > l.maxDecoded() {
		return ErrTooLarge
	}
	d := jsonDepth{max: l.maxDepth()}
	return d.scan(b)
}

// JSONGuard returns a reader that passes r through and fails, before the
// bytes that would nest a JSON stream deeper than l.MaxDepth reach the
// decoder reading it, with a 400 *Error. Size stays bounded by the body
// Open returned.
func JSONGuard(r io.Reader, l Limits) io.Reader {
	return &jsonGuard{r: r, d: jsonDepth{max: l.maxDepth()}}
}

type jsonGuard struct {
	r   io.Reader
	d   jsonDepth
	err error
}

func (g *jsonGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	if serr := g.d.scan(p[:n]); serr != nil {
		g.err = serr
		return 0, serr
	}
	return n, err
}

// jsonDepth follows the nesting of a JSON stream across chunks: only
// brackets outside strings count.
type jsonDepth struct {
	max, depth int
	inStr, esc bool
	off        int64
}

func (d *jsonDepth) scan(b []byte) error {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if d.inStr {
			switch {
			case d.esc:
				d.esc = false
			case c == '\\':
				d.esc = true
			case c == '"':
				d.inStr = false
			}
			continue
		}
		switch c {
		case '"':
			d.inStr = true
		case '{', '[':
			if d.depth++; d.depth > d.max {
				return tooDeep(d.max, "JSON", d.off+int64(i))
			}
		case '}', ']':
			if d.depth > 0 {
				d.depth--
			}
		}
	}
	d.off += int64(len(b))
	return nil
}

// CheckProto bounds a protobuf message of type md held in memory before a
// decoder sees it: ErrTooLarge past l.MaxDecodedBytes, a 400 *Error when
// messages nest deeper than l.MaxDepth or the wire format is broken. It walks
// the wire format without building anything. Fields md does not know (a newer
// schema) are walked as messages when they parse as one, so they cannot hide
// a deep nesting. Groups (proto2 only) are refused.
func CheckProto(b []byte, md protoreflect.MessageDescriptor, l Limits) error {
	if int64(len(b)) > l.maxDecoded() {
		return ErrTooLarge
	}
	w := protoWalk{max: l.maxDepth(), base: b}
	_, err := w.walk(b, md, 0)
	return err
}

type protoWalk struct {
	max  int
	base []byte
}

// offset is where b starts within the whole message, for error messages.
func (w *protoWalk) offset(b []byte) int64 {
	if len(b) == 0 {
		return int64(len(w.base))
	}
	return int64(cap(w.base) - cap(b))
}

// walk checks one message. With md nil the bytes are a field of unknown type:
// ok is false when they are not a well-formed message (then they are taken
// for a string or bytes, and no error is reported).
func (w *protoWalk) walk(b []byte, md protoreflect.MessageDescriptor, depth int) (ok bool, err error) {
	if depth > w.max {
		return false, tooDeep(w.max, "protobuf message", w.offset(b))
	}
	malformed := func(what string) (bool, error) {
		if md == nil {
			return false, nil
		}
		return false, Errorf(http.StatusBadRequest, "body", "malformed protobuf %s: %s at byte %d", md.FullName(), what, w.offset(b))
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed(protowire.ParseError(n).Error())
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed(protowire.ParseError(n).Error())
			}
			var fd protoreflect.FieldDescriptor
			if md != nil {
				fd = md.Fields().ByNumber(num)
			}
			switch {
			case fd == nil:
				if _, err := w.walk(v, nil, depth+1); err != nil {
					return false, err
				}
			case fd.Kind() == protoreflect.MessageKind:
				if _, err := w.walk(v, fd.Message(), depth+1); err != nil {
					return false, err
				}
			}
			b = b[n:]
		case protowire.StartGroupType, protowire.EndGroupType:
			if md == nil {
				return false, nil
			}
			return malformed("groups are not supported")
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return malformed(protowire.ParseError(n).Error())
			}
			b = b[n:]
		}
	}
	return true, nil
}
