package vex

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	govex "github.com/openvex/go-vex/pkg/vex"
	"github.com/trilens/trilens/services/scorer/ledger"
	"github.com/trilens/trilens/services/scorer/scan"
)

var openvexJustifications = []string{
	string(govex.ComponentNotPresent), string(govex.VulnerableCodeNotPresent),
	string(govex.VulnerableCodeNotInExecutePath), string(govex.VulnerableCodeCannotBeControlledByAdversary),
	string(govex.InlineMitigationsAlreadyExist),
}

// WriteOpenVEX writes the active vulnerability waivers (not_affected) and
// the fixed vulnerabilities (fixed) as one OpenVEX document by author, its
// id derived from its statements. A fixed statement names the package
// without a version: the product no longer holds the vulnerable one.
func WriteOpenVEX(out io.Writer, ws []ledger.Waiver, fixed []scan.FixedVulnerability, author string, now time.Time) error {
	doc := govex.New()
	doc.Author, doc.Tooling = author, "trilens"
	ts := now.UTC().Truncate(time.Second)
	doc.Timestamp = &ts
	for _, w := range ws {
		c, ok := claimOf(w, openvexJustifications)
		if !ok {
			continue
		}
		pkg := govex.Component{ID: packagePURL(c.Package, c.Version, c.Location)}
		pkg.Identifiers = map[govex.IdentifierType]string{govex.PURL: pkg.ID}
		product := govex.Product{Component: pkg}
		if c.Product != "" {
			product = govex.Product{Component: govex.Component{ID: c.Product}, Subcomponents: []govex.Subcomponent{{Component: pkg}}}
		}
		doc.Statements = append(doc.Statements, govex.Statement{
			ID: c.ID, Vulnerability: govex.Vulnerability{Name: govex.VulnerabilityID(c.Vulnerability)},
			Products: []govex.Product{product}, Status: govex.StatusNotAffected,
			Justification: govex.Justification(c.Justification), ImpactStatement: c.Impact, StatusNotes: c.Notes,
		})
	}
	for _, c := range fixedClaims(fixed) {
		pkg := govex.Component{ID: packagePURL(c.Package, "", c.Location)}
		pkg.Identifiers = map[govex.IdentifierType]string{govex.PURL: pkg.ID}
		product := govex.Product{Component: pkg}
		if c.Product != "" {
			product = govex.Product{Component: govex.Component{ID: c.Product}, Subcomponents: []govex.Subcomponent{{Component: pkg}}}
		}
		at := c.At
		doc.Statements = append(doc.Statements, govex.Statement{
			ID: c.ID, Vulnerability: govex.Vulnerability{Name: govex.VulnerabilityID(c.Vulnerability)}, Timestamp: &at,
			Products: []govex.Product{product}, Status: govex.StatusFixed, StatusNotes: c.notes(),
		})
	}
	id, err := doc.GenerateCanonicalID()
	if err != nil {
		return fmt.Errorf("openvex id: %w", err)
	}
	doc.ID = id
	return doc.ToJSON(out)
}

// openvexClaims reads the not_affected statements of an OpenVEX document,
// one claim per package they name; other statuses waive nothing.
func openvexClaims(data []byte) (author string, claims []Claim, err error) {
	doc, err := govex.Parse(data)
	if err != nil {
		// govulncheck writes timestamps without a zone: read them as UTC.
		doc, err = govex.Parse(zonedTimestamps(data))
	}
	if err != nil {
		return "", nil, fmt.Errorf("openvex: %w", err)
	}
	for _, st := range doc.Statements {
		if st.Status != govex.StatusNotAffected {
			continue
		}
		base := Claim{ID: st.ID, Vulnerability: string(st.Vulnerability.Name), Justification: string(st.Justification),
			Impact: st.ImpactStatement, Notes: st.StatusNotes}
		for _, a := range st.Vulnerability.Aliases {
			base.Aliases = append(base.Aliases, string(a))
		}
		for _, p := range st.Products {
			claims = append(claims, productClaims(base, p)...)
		}
	}
	return doc.Author, claims, nil
}

// productClaims is a claim per subcomponent of p, or about p itself.
func productClaims(base Claim, p govex.Product) []Claim {
	if len(p.Subcomponents) == 0 {
		c := base
		c.Package, c.Version, c.Location = packageOf(componentID(p.Component))
		return []Claim{c}
	}
	var out []Claim
	for _, s := range p.Subcomponents {
		c := base
		c.Product = componentID(p.Component)
		c.Package, c.Version, c.Location = packageOf(componentID(s.Component))
		out = append(out, c)
	}
	return slices.Clip(out)
}

// componentID is the component's @id, else its purl identifier.
func componentID(c govex.Component) string {
	if c.ID != "" {
		return c.ID
	}
	return c.Identifiers[govex.PURL]
}

// zonedTimestamps gives the document's and statements' timestamps without
// a zone the UTC zone; a document that is not JSON is returned as is.
func zonedTimestamps(data []byte) []byte {
	var doc map[string]any
	if json.Unmarshal(data, &doc) != nil {
		return data
	}
	objs := []map[string]any{doc}
	if sts, ok := doc["statements"].([]any); ok {
		for _, st := range sts {
			if m, ok := st.(map[string]any); ok {
				objs = append(objs, m)
			}
		}
	}
	for _, m := range objs {
		for _, k := range []string{"timestamp", "last_updated", "action_statement_timestamp"} {
			if s, ok := m[k].(string); ok {
				if _, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
					m[k] = s + "Z"
				}
			}
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return data
	}
	return out
}
