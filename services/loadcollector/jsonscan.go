package loadcollector

import (
	"errors"
	"strconv"
	"unsafe"
)

// scanner walks one JSON line in place: no allocation per value, so a k6
// NDJSON stream parses at hundreds of MB/s. It checks syntax only as far as
// it reads; values it skips are checked for balance, not for every rule.
type scanner struct {
	b []byte
	i int
}

var errSyntax = errors.New("invalid JSON")

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// str reads a string and returns its raw bytes (escapes left as they are).
func (s *scanner) str() ([]byte, error) {
	if !s.eat('"') {
		return nil, errSyntax
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			out := s.b[start:s.i]
			s.i++
			return out, nil
		case '\\':
			s.i += 2
		default:
			s.i++
		}
	}
	return nil, errSyntax
}

func (s *scanner) num() (float64, error) {
	s.ws()
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.i++
			continue
		}
		break
	}
	if s.i == start {
		return 0, errSyntax
	}
	f, err := strconv.ParseFloat(unsafe.String(&s.b[start], s.i-start), 64)
	if err != nil {
		return 0, errSyntax
	}
	return f, nil
}

// skip passes over one value of any kind.
func (s *scanner) skip() error {
	switch s.peek() {
	case '"':
		_, err := s.str()
		return err
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, err := s.str(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return errSyntax
	case 't', 'f', 'n':
		for s.i < len(s.b) && s.b[s.i] >= 'a' && s.b[s.i] <= 'z' {
			s.i++
		}
		return nil
	default:
		_, err := s.num()
		return err
	}
}

// object calls field for every key of an object; field must consume the value.
func (s *scanner) object(field func(key []byte) error) error {
	if !s.eat('{') {
		return errSyntax
	}
	if s.eat('}') {
		return nil
	}
	for {
		key, err := s.str()
		if err != nil {
			return err
		}
		if !s.eat(':') {
			return errSyntax
		}
		if err := field(key); err != nil {
			return err
		}
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			return nil
		}
		return errSyntax
	}
}
