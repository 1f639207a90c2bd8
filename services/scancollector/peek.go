package scancollector

import (
	"bufio"
	"errors"
	"io"
)

// firstByte reads past a UTF-8 byte order mark and white space and returns
// the first byte of the document (0 for an empty one) with a reader
// positioned on it, so a decoder can choose between the shapes of its format.
func firstByte(r io.Reader) (byte, io.Reader, error) {
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\xef\xbb\xbf" {
		_, _ = br.Discard(3)
	}
	for {
		b, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return 0, br, nil
		}
		if err != nil {
			return 0, br, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br, br.UnreadByte()
	}
}
