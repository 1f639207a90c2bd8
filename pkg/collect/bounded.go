package collect

import (
	"io"
	"net/http"
	"sync"

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
	_, err := w.walk(b, compiled(md), 0)
	return err
}

// protoNode is a message type reduced to what the walk needs: for each field
// number, whether it is known and, for message fields, its type.
type protoNode struct {
	name  protoreflect.FullName
	known []bool
	msgs  []*protoNode
}

// unknownNode stands for bytes of unknown type: every field is unknown.
var unknownNode = &protoNode{}

var protoNodes sync.Map // protoreflect.FullName -> *protoNode

// compiled returns md's node, building it (and the types it refers to,
// cycles included) once per process.
func compiled(md protoreflect.MessageDescriptor) *protoNode {
	if n, ok := protoNodes.Load(md.FullName()); ok {
		return n.(*protoNode)
	}
	building := map[protoreflect.FullName]*protoNode{}
	var build func(md protoreflect.MessageDescriptor) *protoNode
	build = func(md protoreflect.MessageDescriptor) *protoNode {
		if n, ok := building[md.FullName()]; ok {
			return n
		}
		n := &protoNode{name: md.FullName()}
		building[md.FullName()] = n
		fields := md.Fields()
		top := 0
		for i := 0; i < fields.Len(); i++ {
			top = max(top, int(fields.Get(i).Number()))
		}
		if top > 1<<12 {
			top = 1 << 12 // sparse numbers past this are walked as unknown fields
		}
		n.known = make([]bool, top+1)
		n.msgs = make([]*protoNode, top+1)
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if int(fd.Number()) > top {
				continue
			}
			n.known[fd.Number()] = true
			if fd.Kind() == protoreflect.MessageKind {
				n.msgs[fd.Number()] = build(fd.Message())
			}
		}
		return n
	}
	n := build(md)
	actual, _ := protoNodes.LoadOrStore(md.FullName(), n)
	return actual.(*protoNode)
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

// walk checks one message. For unknownNode the bytes are a field of unknown
// type: ok is false when they are not a well-formed message (then they are
// taken for a string or bytes, and no error is reported).
func (w *protoWalk) walk(b []byte, n *protoNode, depth int) (ok bool, err error) {
	if depth > w.max {
		return false, tooDeep(w.max, "protobuf message", w.offset(b))
	}
	malformed := func(what string) (bool, error) {
		if n == unknownNode {
			return false, nil
		}
		return false, Errorf(http.StatusBadRequest, "body", "malformed protobuf %s: %s at byte %d", n.name, what, w.offset(b))
	}
	for len(b) > 0 {
		num, typ, m := protowire.ConsumeTag(b)
		if m < 0 {
			return malformed(protowire.ParseError(m).Error())
		}
		b = b[m:]
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return malformed(protowire.ParseError(m).Error())
			}
			var next *protoNode
			switch {
			case int(num) < len(n.known) && n.known[num]:
				next = n.msgs[num] // nil: a string or bytes field
			default:
				next = unknownNode
			}
			if next != nil {
				if _, err := w.walk(v, next, depth+1); err != nil {
					return false, err
				}
			}
			b = b[m:]
		case protowire.StartGroupType, protowire.EndGroupType:
			return malformed("groups are not supported")
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return malformed(protowire.ParseError(m).Error())
			}
			b = b[m:]
		}
	}
	return true, nil
}
