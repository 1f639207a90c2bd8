package forge

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMarkerTellsServicesApart(t *testing.T) {
	body := commentBody(Publication{Service: "checkout", Body: "### PASS"})
	if !hasMarker(body, "checkout") || hasMarker(body, "search") || hasMarker(body, "") || hasMarker("Looks good\n"+body, "checkout") {
		t.Errorf("marker of checkout in %q: found for the wrong service or not at the top", body)
	}
	if m := Marker("x-->y"); strings.Count(m, "-->") != 1 {
		t.Errorf("a service name must not close the marker early: %q", m)
	}
}

func TestTruncateKeepsUTF8AndTheLimit(t *testing.T) {
	long := strings.Repeat("€", 1000) // 3 bytes each
	for _, n := range []int{200, 201, 202} {
		got := truncate(long, n)
		if len(got) > n || !utf8.ValidString(got) || !strings.HasSuffix(got, "prints it all._\n") {
			t.Errorf("truncate to %d: %d bytes, valid UTF-8 %v", n, len(got), utf8.ValidString(got))
		}
	}
	if got := truncate("short", 200); got != "short" {
		t.Errorf("short text changed: %q", got)
	}
}

func TestEncodeSARIFIsGzipThenBase64(t *testing.T) {
	log := []byte(`{"version":"2.1.0","runs":[]}`)
	enc, err := EncodeSARIF(log)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(zr)
	if !bytes.Equal(back, log) {
		t.Errorf("round trip: %q, want %q", back, log)
	}
}
