package sbomcollector

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/format/syftjson/model"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
	"github.com/spdx/tools-golang/tagvalue"

	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
)

// Formats of the documents the collector accepts.
const (
	FormatCycloneDX = "cyclonedx"
	FormatSPDX      = "spdx"
	FormatSyft      = "syft"
)

// Document is what an SBOM says, reduced to what Trilens keeps: the
// artifact it describes and its components. The raw document is never held.
type Document struct {
	Format      string
	SpecVersion string
	// MediaType is the document's encoding as stored (JSON or SPDX tag-value).
	MediaType string
	// ArtifactName and ArtifactDigest come from the document's own subject
	// (CycloneDX metadata.component, the package SPDX describes, syft's source).
	ArtifactName   string
	ArtifactDigest string
	Tool           string
	ToolVersion    string
	// Created is when the tool made the document; zero when it does not say.
	Created         time.Time
	Components      []*sbomv1.Component
	LockfilePresent bool
}

// DecodeError is a document the collector cannot take; the message names the
// problem for the client.
type DecodeError struct{ Msg string }

func (e *DecodeError) Error() string { return e.Msg }

func decodeErrorf(format string, args ...any) error {
	return &DecodeError{Msg: fmt.Sprintf(format, args...)}
}

// Media types of the encodings the collector reads.
var mediaTypes = map[string]string{
	FormatCycloneDX: "application/vnd.cyclonedx+json",
	FormatSPDX:      "application/spdx+json",
	FormatSyft:      "application/vnd.syft+json",
}

const mediaTypeSPDXTagValue = "text/spdx"

// Decode reads a CycloneDX JSON (1.2–1.7), SPDX 2.1–2.3 (JSON or
// tag-value) or syft JSON document from r in one pass. JSON components are
// decoded one at a time with the types of the format's maintained library
// (cyclonedx-go, spdx/tools-golang, syft's JSON model), so memory follows
// the number of components, not the document size; tag-value is read whole
// by tools-golang, which converts every SPDX 2.x version to 2.3. A document
// it cannot take returns a *DecodeError; a failing reader returns its own
// error.
func Decode(r io.Reader) (*Document, error) {
	src := &readErrors{r: r}
	br := bufio.NewReader(src)
	first, _ := firstByte(br)
	if src.err != nil {
		return nil, src.err
	}
	switch first {
	case '<':
		return nil, decodeErrorf("XML documents (CycloneDX XML, SPDX RDF) are not supported: send CycloneDX JSON, SPDX JSON or tag-value, or syft JSON")
	case 0, '{', '[':
	default:
		return decodeTagValue(br, src)
	}
	d := &decoder{dec: json.NewDecoder(br), doc: &Document{}}
	if err := d.run(); err != nil {
		var de *DecodeError
		switch {
		case src.err != nil:
			// The reader failed (body too large, connection lost): not the document's fault.
			return nil, src.err
		case errors.As(err, &de):
			return nil, err
		case errors.Is(err, io.EOF):
			return nil, decodeErrorf("invalid JSON: the document ends early")
		}
		// Syntax and type errors, and those of the libraries' own unmarshalers.
		return nil, decodeErrorf("invalid JSON: %v", err)
	}
	d.doc.MediaType = mediaTypes[d.doc.Format]
	return d.doc, nil
}

// firstByte peeks past leading white space at the first byte of the document.
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n', 0xef, 0xbb, 0xbf: // white space and a UTF-8 byte order mark
			continue
		}
		return b, br.UnreadByte()
	}
}

// decodeTagValue reads an SPDX tag-value document.
func decodeTagValue(r io.Reader, src *readErrors) (*Document, error) {
	// tools-golang converts every version to 2.3; the version the document
	// declares is kept from its own SPDXVersion line.
	raw, err := io.ReadAll(r)
	if src.err != nil {
		return nil, src.err
	}
	if err != nil {
		return nil, err
	}
	sd, err := tagvalue.Read(bytes.NewReader(raw))
	if err != nil {
		return nil, decodeErrorf("not a CycloneDX JSON, SPDX JSON or tag-value, or syft JSON document: SPDX tag-value: %v", err)
	}
	d := &decoder{doc: &Document{}, format: FormatSPDX, spdxVersion: tagValueVersion(raw), spdxName: sd.DocumentName}
	if ci := sd.CreationInfo; ci != nil {
		d.spdxCreated = ci.Created
		for _, c := range ci.Creators {
			d.spdxCreators = append(d.spdxCreators, c.CreatorType+": "+c.Creator)
		}
	}
	for _, p := range sd.Packages {
		d.addSPDX(p)
	}
	for _, rel := range sd.Relationships {
		if rel.Relationship == "DESCRIBES" && rel.RefA.ElementRefID == "DOCUMENT" {
			d.describe("SPDXRef-" + string(rel.RefB.ElementRefID))
		}
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	d.doc.MediaType = mediaTypeSPDXTagValue
	return d.doc, nil
}

// tagValueVersion is the value of the first SPDXVersion tag.
func tagValueVersion(doc []byte) string {
	for line := range bytes.Lines(doc) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("SPDXVersion:")); ok {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

// readErrors remembers the first error of its reader other than EOF, so
// Decode can tell a failing reader from a bad document.
type readErrors struct {
	r   io.Reader
	err error
}

func (e *readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

type decoder struct {
	dec *json.Decoder
	doc *Document

	// format is what the keys seen so far say the document is.
	format string
	// fields only one format has, checked once the whole document is read.
	bomFormat, specVersion, spdxVersion, syftSchema string
	cdxMeta                                         *cyclonedx.Metadata
	spdxName                                        string
	spdxCreated                                     string
	spdxCreators                                    []string
	spdxDescribes                                   map[string]bool
	spdxIDs                                         []string // SPDXID of each component, to drop the described ones
	syftSource                                      *model.Source
	syftDescriptor                                  *model.Descriptor
}

// claim records that key belongs to format; a document mixing formats is refused.
func (d *decoder) claim(format, key string) error {
	if d.format != "" && d.format != format {
		return decodeErrorf("key %q is %s but the document is %s", key, format, d.format)
	}
	d.format = format
	return nil
}

func (d *decoder) run() error {
	if err := expectDelim(d.dec, '{'); err != nil {
		return err
	}
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		if err := d.field(key); err != nil {
			return err
		}
	}
	if _, err := d.dec.Token(); err != nil { // closing brace
		return err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		if err == nil {
			return decodeErrorf("invalid JSON: data after the top-level object")
		}
		return err
	}
	return d.finish()
}

func (d *decoder) field(key string) error {
	switch key {
	case "bomFormat", "specVersion", "metadata", "components":
		if err := d.claim(FormatCycloneDX, key); err != nil {
			return err
		}
	case "spdxVersion", "creationInfo", "documentDescribes", "packages", "relationships":
		if err := d.claim(FormatSPDX, key); err != nil {
			return err
		}
	case "artifacts", "source", "descriptor", "schema", "artifactRelationships", "distro":
		if err := d.claim(FormatSyft, key); err != nil {
			return err
		}
	}
	switch key {
	case "bomFormat":
		return d.dec.Decode(&d.bomFormat)
	case "specVersion":
		return d.dec.Decode(&d.specVersion)
	case "metadata":
		d.cdxMeta = &cyclonedx.Metadata{}
		return d.dec.Decode(d.cdxMeta)
	case "components":
		return eachElement(d.dec, "components", func() error {
			var c cyclonedx.Component
			if err := d.dec.Decode(&c); err != nil {
				return err
			}
			d.addCycloneDX(&c)
			return nil
		})
	case "spdxVersion":
		return d.dec.Decode(&d.spdxVersion)
	case "name":
		// SPDX document name; CycloneDX and syft have no top-level name.
		return d.dec.Decode(&d.spdxName)
	case "creationInfo":
		var ci struct {
			Created  string   `json:"created"`
			Creators []string `json:"creators"`
		}
		if err := d.dec.Decode(&ci); err != nil {
			return err
		}
		d.spdxCreated, d.spdxCreators = ci.Created, ci.Creators
		return nil
	case "documentDescribes":
		var ids []string
		if err := d.dec.Decode(&ids); err != nil {
			return err
		}
		for _, id := range ids {
			d.describe(id)
		}
		return nil
	case "packages":
		return eachElement(d.dec, "packages", func() error {
			var p spdx.Package
			if err := d.dec.Decode(&p); err != nil {
				return err
			}
			d.addSPDX(&p)
			return nil
		})
	case "relationships":
		return eachElement(d.dec, "relationships", func() error {
			var rel struct {
				From string `json:"spdxElementId"`
				Type string `json:"relationshipType"`
				To   string `json:"relatedSpdxElement"`
			}
			if err := d.dec.Decode(&rel); err != nil {
				return err
			}
			if rel.Type == "DESCRIBES" && rel.From == "SPDXRef-DOCUMENT" {
				d.describe(rel.To)
			}
			return nil
		})
	case "artifacts":
		return eachElement(d.dec, "artifacts", func() error {
			var p model.Package
			if err := d.dec.Decode(&p); err != nil {
				return err
			}
			d.addSyft(&p)
			return nil
		})
	case "source":
		d.syftSource = &model.Source{}
		return d.dec.Decode(d.syftSource)
	case "descriptor":
		d.syftDescriptor = &model.Descriptor{}
		return d.dec.Decode(d.syftDescriptor)
	case "schema":
		var s model.Schema
		if err := d.dec.Decode(&s); err != nil {
			return err
		}
		d.syftSchema = s.Version
		return nil
	}
	// Everything else (files, dependencies, relationships of syft, ...) is
	// skipped token by token, never materialised.
	return skipValue(d.dec)
}

func (d *decoder) describe(id string) {
	if d.spdxDescribes == nil {
		d.spdxDescribes = map[string]bool{}
	}
	d.spdxDescribes[id] = true
}

// finish checks the format's version and fills the document's subject.
func (d *decoder) finish() error {
	doc := d.doc
	doc.Format = d.format
	switch d.format {
	case FormatCycloneDX:
		if d.bomFormat != "CycloneDX" {
			return decodeErrorf("bomFormat: want \"CycloneDX\", got %q", d.bomFormat)
		}
		switch d.specVersion {
		case "1.2", "1.3", "1.4", "1.5", "1.6", "1.7": // 1.2 is the first with a JSON encoding; syft writes 1.7
		default:
			return decodeErrorf("specVersion: CycloneDX %q is not supported, want 1.2 to 1.7", d.specVersion)
		}
		doc.SpecVersion = d.specVersion
		d.finishCycloneDX()
	case FormatSPDX:
		switch d.spdxVersion {
		case "SPDX-2.1", "SPDX-2.2", "SPDX-2.3":
		default:
			return decodeErrorf("spdxVersion: %q is not supported, want SPDX-2.1 to SPDX-2.3", d.spdxVersion)
		}
		doc.SpecVersion = strings.TrimPrefix(d.spdxVersion, "SPDX-")
		d.finishSPDX()
	case FormatSyft:
		if d.syftSchema == "" {
			return decodeErrorf("schema.version: a syft JSON document must name its schema version")
		}
		doc.SpecVersion = d.syftSchema
		d.finishSyft()
	default:
		return decodeErrorf("not a CycloneDX JSON, SPDX JSON or tag-value, or syft JSON document")
	}
	for _, c := range doc.Components {
		if isLockfile(c.GetLocation()) {
			doc.LockfilePresent = true
			break
		}
	}
	return nil
}

func (d *decoder) finishCycloneDX() {
	m := d.cdxMeta
	if m == nil {
		return
	}
	d.doc.Created = parseTime(m.Timestamp)
	if c := m.Component; c != nil {
		d.doc.ArtifactName = c.Name
		if c.Version != "" && !strings.HasPrefix(c.Version, "sha256:") {
			d.doc.ArtifactName = c.Name + ":" + c.Version
		}
		d.doc.ArtifactDigest = cdxDigest(c)
	}
	if m.Tools != nil {
		if m.Tools.Components != nil && len(*m.Tools.Components) > 0 {
			t := (*m.Tools.Components)[0]
			d.doc.Tool, d.doc.ToolVersion = t.Name, t.Version
		} else if m.Tools.Tools != nil && len(*m.Tools.Tools) > 0 { //nolint:staticcheck // 1.4 documents use the deprecated form
			t := (*m.Tools.Tools)[0] //nolint:staticcheck // as above
			d.doc.Tool, d.doc.ToolVersion = t.Name, t.Version
		}
	}
}

// cdxDigest is the sha256 of the described component: a SHA-256 hash, or the
// digest syft writes as the version of an image.
func cdxDigest(c *cyclonedx.Component) string {
	if c.Hashes != nil {
		for _, h := range *c.Hashes {
			if h.Algorithm == cyclonedx.HashAlgoSHA256 {
				return "sha256:" + strings.ToLower(h.Value)
			}
		}
	}
	if strings.HasPrefix(c.Version, "sha256:") {
		return c.Version
	}
	return ""
}

func (d *decoder) finishSPDX() {
	doc := d.doc
	doc.ArtifactName = d.spdxName
	doc.Created = parseTime(d.spdxCreated)
	for _, c := range d.spdxCreators {
		if tool, ok := strings.CutPrefix(c, "Tool: "); ok {
			// "syft-1.20.0": the version follows the last dash.
			if i := strings.LastIndex(tool, "-"); i > 0 {
				doc.Tool, doc.ToolVersion = tool[:i], tool[i+1:]
			} else {
				doc.Tool = tool
			}
			break
		}
	}
	// The package the document describes is the artifact itself, not one of
	// its components (as CycloneDX's metadata.component).
	kept := doc.Components[:0]
	for i, c := range doc.Components {
		if d.spdxDescribes[d.spdxIDs[i]] {
			if c.GetName() != "" {
				doc.ArtifactName = c.GetName()
			}
			continue
		}
		kept = append(kept, c)
	}
	doc.Components = kept
	d.spdxIDs = nil
}

func (d *decoder) finishSyft() {
	doc := d.doc
	if s := d.syftSource; s != nil {
		doc.ArtifactName = s.Name
		if s.Version != "" && !strings.HasPrefix(s.Version, "sha256:") {
			doc.ArtifactName = s.Name + ":" + s.Version
		}
		if strings.HasPrefix(s.Version, "sha256:") {
			doc.ArtifactDigest = s.Version
		}
	}
	if t := d.syftDescriptor; t != nil {
		doc.Tool, doc.ToolVersion = t.Name, t.Version
	}
}

func (d *decoder) addCycloneDX(c *cyclonedx.Component) {
	if c.Type == cyclonedx.ComponentTypeFile {
		// A file is evidence (syft lists the manifests it read), not a dependency.
		return
	}
	comp := &sbomv1.Component{
		Purl:              c.PackageURL,
		Name:              c.Name,
		Version:           c.Version,
		Type:              componentType(c.PackageURL, string(c.Type)),
		Cpe:               c.CPE,
		VersionConstraint: c.VersionRange,
	}
	if c.Licenses != nil {
		for _, l := range *c.Licenses {
			switch {
			case l.Expression != "":
				comp.Licenses = append(comp.Licenses, l.Expression)
			case l.License != nil && l.License.ID != "":
				comp.Licenses = append(comp.Licenses, l.License.ID)
			case l.License != nil && l.License.Name != "":
				comp.Licenses = append(comp.Licenses, l.License.Name)
			}
		}
	}
	if c.Properties != nil {
		for _, p := range *c.Properties {
			// syft's convention for where it found the component.
			if p.Name == "syft:location:0:path" {
				comp.Location = p.Value
				break
			}
		}
	}
	d.add(comp)
	if c.Components != nil {
		for i := range *c.Components {
			d.addCycloneDX(&(*c.Components)[i])
		}
	}
}

func (d *decoder) addSPDX(p *spdx.Package) {
	comp := &sbomv1.Component{
		Name:     p.PackageName,
		Version:  p.PackageVersion,
		Location: spdxLocation(p.PackageSourceInfo),
	}
	for _, ref := range p.PackageExternalReferences {
		switch ref.RefType {
		case "purl":
			comp.Purl = ref.Locator
		case "cpe23Type", "cpe22Type":
			if comp.Cpe == "" {
				comp.Cpe = ref.Locator
			}
		}
	}
	comp.Type = componentType(comp.Purl, strings.ToLower(p.PrimaryPackagePurpose))
	for _, l := range []string{p.PackageLicenseConcluded, p.PackageLicenseDeclared} {
		if l != "" && l != "NOASSERTION" && l != "NONE" {
			comp.Licenses = append(comp.Licenses, l)
			break
		}
	}
	d.spdxIDs = append(d.spdxIDs, "SPDXRef-"+string(p.PackageSPDXIdentifier))
	d.add(comp)
}

// spdxLocation takes the path syft writes into sourceInfo
// ("acquired package info from go module information: /go.mod").
func spdxLocation(info string) string {
	i := strings.LastIndex(info, ": ")
	if i < 0 {
		return ""
	}
	path, _, _ := strings.Cut(info[i+2:], ", ")
	if !strings.HasPrefix(path, "/") {
		return ""
	}
	return path
}

func (d *decoder) addSyft(p *model.Package) {
	comp := &sbomv1.Component{
		Purl:    p.PURL,
		Name:    p.Name,
		Version: p.Version,
		Type:    componentType(p.PURL, string(p.Type)),
	}
	for _, l := range p.Licenses {
		if l.SPDXExpression != "" {
			comp.Licenses = append(comp.Licenses, l.SPDXExpression)
		} else if l.Value != "" {
			comp.Licenses = append(comp.Licenses, l.Value)
		}
	}
	if len(p.CPEs) > 0 {
		comp.Cpe = p.CPEs[0].Value
	}
	if len(p.Locations) > 0 {
		comp.Location = p.Locations[0].RealPath
	}
	comp.VersionConstraint = syftConstraint(p.Metadata)
	d.add(comp)
}

func (d *decoder) add(c *sbomv1.Component) {
	c.Pinned, c.VersionConstraint = pinned(c.GetVersion(), c.GetVersionConstraint(), c.GetPurl())
	d.doc.Components = append(d.doc.Components, c)
}

// componentType is the purl type when there is one, so the same component
// has the same type whatever the format; else the format's own type.
func componentType(purl, fallback string) string {
	if rest, ok := strings.CutPrefix(purl, "pkg:"); ok {
		if t, _, ok := strings.Cut(rest, "/"); ok && t != "" {
			return strings.ToLower(t)
		}
	}
	return fallback
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return decodeErrorf("empty document")
		}
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return decodeErrorf("invalid JSON: want %q, got %v", want, tok)
	}
	return nil
}

// eachElement calls fn for each element of the array that comes next; fn
// decodes the element. null counts as an empty array.
func eachElement(dec *json.Decoder, key string, fn func() error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return decodeErrorf("%s: want an array, got %v", key, tok)
	}
	for dec.More() {
		if err := fn(); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) {
				return decodeErrorf("%s: %v", key, err)
			}
			return err
		}
	}
	_, err = dec.Token()
	return err
}

// skipValue reads past the next value without keeping it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
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
