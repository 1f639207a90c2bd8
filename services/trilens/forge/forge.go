// Package forge publishes a gate's verdict where a pull request is
// reviewed: one comment per pull request (and service), found again by a
// hidden marker and edited in place, a check run (GitHub) or commit status
// (GitLab) carrying the verdict, and the security findings as SARIF for
// GitHub code scanning. It speaks to GitHub through go-github and to GitLab
// through GitLab's client-go; it knows nothing of the scorer.
package forge

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Publication is what one gate run publishes.
type Publication struct {
	// Service keys the comment: gates of two services in one pull request
	// keep a comment each.
	Service string
	// Pass is the verdict: the check's conclusion and the commit status.
	Pass bool
	// Title is the one-line verdict (the check run's title, the status's description).
	Title string
	// Body is the comment in Markdown, without the marker.
	Body string
	// DetailsURL links the check or status to the Trilens page.
	DetailsURL string
	// SARIF is the security findings as a SARIF 2.1.0 log; nil uploads nothing.
	SARIF []byte
}

// Result says what a publisher did, for the gate's output and the tests.
type Result struct {
	CommentID      int64
	CommentCreated bool // false: an existing comment was edited
	CheckID        int64
	SARIFID        string
}

// Marker is the hidden first line that finds the comment again.
func Marker(service string) string {
	if service == "" {
		return "<!-- trilens:gate -->"
	}
	return "<!-- trilens:gate service=" + strings.ReplaceAll(service, "-->", "") + " -->"
}

func commentBody(p Publication) string { return Marker(p.Service) + "\n" + p.Body }

// hasMarker tells a Trilens comment of the service from every other one.
func hasMarker(body, service string) bool {
	first, _, _ := strings.Cut(body, "\n")
	return strings.TrimSpace(first) == Marker(service)
}

// EncodeSARIF is the upload form the code scanning API wants: the log
// gzip-compressed, then base64-encoded.
func EncodeSARIF(log []byte) (string, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(log); err != nil {
		return "", fmt.Errorf("gzip SARIF: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("gzip SARIF: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// truncate keeps s within n bytes (the forges refuse longer texts).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const cut = "\n\n_… cut to fit the forge's limit; `trilens gate --format markdown` prints it all._\n"
	s = s[:n-len(cut)]
	for !utf8.ValidString(s) { // do not split a UTF-8 sequence
		s = s[:len(s)-1]
	}
	return s + cut
}
