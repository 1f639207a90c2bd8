package changecollector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/trilens/trilens/pkg/collect"
)

// Formats the collector reads.
const (
	FormatGitHub       = "github"
	FormatGitLab       = "gitlab"
	FormatCloudEvents  = "cloudevents"
	FormatAlertmanager = "alertmanager"
	FormatGeneric      = "generic"
)

// Formats lists the formats ?format= accepts.
var Formats = []string{FormatGeneric, FormatGitHub, FormatGitLab, FormatCloudEvents, FormatAlertmanager}

// Decoded is what one request carried.
type Decoded struct {
	Format string
	// Event is the source's name of the delivery (workflow_run, Pipeline Hook, a CloudEvents type).
	Event   string
	Records []Record
	// Ignored says why a valid delivery gave no change (a ping, an event type that is no change).
	Ignored string
}

// Limits bound what a decoder accepts.
type Limits struct {
	MaxDepth   int
	MaxChanges int
}

// ErrTooMany is returned for a request with more changes than MaxChanges.
var ErrTooMany = errors.New("too many changes in one request")

// ErrTooDeep is returned for JSON nested deeper than MaxDepth.
var ErrTooDeep = errors.New("JSON nested too deeply")

// FormatFromHeaders names the format the headers announce: the webhook
// event headers of GitHub and GitLab, or a CloudEvent in binary or
// structured mode. "" means the body decides.
func FormatFromHeaders(h http.Header) string {
	switch {
	case h.Get("X-GitHub-Event") != "":
		return FormatGitHub
	case h.Get("X-Gitlab-Event") != "":
		return FormatGitLab
	case h.Get("Ce-Specversion") != "":
		return FormatCloudEvents
	}
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && mt == "application/cloudevents+json" {
		return FormatCloudEvents
	}
	return ""
}

// FormatFromBody tells a JSON body's format by its top-level keys: a
// CloudEvent in structured mode has specversion, an Alertmanager
// notification has alerts and groupKey; anything else is the generic shape.
func FormatFromBody(body []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return FormatGeneric
	}
	_, spec := top["specversion"]
	_, alerts := top["alerts"]
	_, group := top["groupKey"]
	switch {
	case spec:
		return FormatCloudEvents
	case alerts && group:
		return FormatAlertmanager
	}
	return FormatGeneric
}

// Decode reads a body of the given format; h carries the headers some
// formats read (the GitHub and GitLab event names, CloudEvents attributes).
// body must be the JSON payload (GitHub's form encoding already undone).
// The nesting is checked before any decoder recurses. Errors name the
// problem and are *collect.Error (400, or 413 for ErrTooMany and ErrTooDeep).
func Decode(format string, h http.Header, body []byte, lim Limits) (*Decoded, error) {
	if err := CheckDepth(body, lim.MaxDepth); err != nil {
		return nil, collect.Errorf(http.StatusRequestEntityTooLarge, "body", "%s: %v", format, err)
	}
	var (
		d   *Decoded
		err error
	)
	switch format {
	case FormatGitHub:
		d, err = decodeGitHub(h.Get("X-GitHub-Event"), body)
	case FormatGitLab:
		d, err = decodeGitLab(h.Get("X-Gitlab-Event"), body)
	case FormatCloudEvents:
		d, err = decodeCloudEvent(h, body)
	case FormatAlertmanager:
		d, err = decodeAlertmanager(body, lim.MaxChanges)
	case FormatGeneric:
		d, err = decodeGeneric(body, lim.MaxChanges)
	default:
		return nil, collect.Errorf(http.StatusBadRequest, "format", "unknown format %q: want one of %s", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		var ce *collect.Error
		switch {
		case errors.As(err, &ce):
			return nil, ce
		case errors.Is(err, ErrTooMany):
			return nil, collect.Errorf(http.StatusRequestEntityTooLarge, "body", "%s: %v", format, err)
		}
		return nil, collect.Errorf(http.StatusBadRequest, "body", "%s: %v", format, err)
	}
	d.Format = format
	for i, r := range d.Records {
		if !ValidStatus(r.Change.GetType(), r.Change.GetStatus()) {
			return nil, collect.Errorf(http.StatusBadRequest, "body", "%s: change %d (%s): status %q does not fit a %s", format, i,
				r.Change.GetId(), r.Change.GetStatus(), typeName(r.Change.GetType()))
		}
	}
	return d, nil
}

// CheckDepth fails when body nests objects and arrays deeper than max. It
// scans the bytes without recursion, so it is safe on any input.
func CheckDepth(body []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return fmt.Errorf("%w: more than %d levels", ErrTooDeep, max)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// strictJSON decodes body into v refusing unknown fields and trailing data,
// so a typo in a hand-written change is named instead of dropped.
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON document")
	}
	return nil
}
