package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/trilens/trilens/pkg/policy"
)

// sbomComponent is a stored component, as the SBOM checks read it back.
type sbomComponent struct {
	Purl, Name, Version, Type string
	Licenses                  []string
	Pinned                    bool
	Constraint, Location      string
}

// key identifies a component across versions: its purl without version,
// qualifiers and subpath, else type/name.
func (c sbomComponent) key() string {
	if p := c.Purl; p != "" {
		p, _, _ = strings.Cut(p, "?")
		p, _, _ = strings.Cut(p, "#")
		if i := strings.LastIndex(p, "@"); i > strings.LastIndex(p, "/") {
			p = p[:i]
		}
		return p
	}
	return c.Type + "/" + c.Name
}

// componentChange is one line of an SBOM diff.
type componentChange struct {
	Change   string // added, removed, changed
	Key      string
	Old, New string
}

// diffComponents compares two SBOMs by component key. A key present with
// several versions (npm allows it) is compared as its sorted version set.
func diffComponents(prev, cur []sbomComponent) []componentChange {
	versions := func(cs []sbomComponent) map[string]string {
		m := map[string][]string{}
		for _, c := range cs {
			m[c.key()] = append(m[c.key()], c.Version)
		}
		out := make(map[string]string, len(m))
		for k, vs := range m {
			sort.Strings(vs)
			out[k] = strings.Join(vs, ",")
		}
		return out
	}
	a, b := versions(prev), versions(cur)
	var out []componentChange
	for k, nv := range b {
		ov, ok := a[k]
		switch {
		case !ok:
			out = append(out, componentChange{Change: "added", Key: k, New: nv})
		case ov != nv:
			out = append(out, componentChange{Change: "changed", Key: k, Old: ov, New: nv})
		}
	}
	for k, ov := range a {
		if _, ok := b[k]; !ok {
			out = append(out, componentChange{Change: "removed", Key: k, Old: ov})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// licenceIDs splits SPDX expressions into licence ids ("MIT OR (GPL-2.0-only
// WITH Classpath-exception-2.0)" gives MIT, GPL-2.0-only, Classpath-exception-2.0).
func licenceIDs(exprs []string) []string {
	var ids []string
	for _, e := range exprs {
		for _, f := range strings.FieldsFunc(e, func(r rune) bool { return r == ' ' || r == '(' || r == ')' }) {
			switch strings.ToUpper(f) {
			case "AND", "OR", "WITH":
				continue
			}
			ids = append(ids, f)
		}
	}
	return ids
}

// deniedLicence is the first licence id of c on the deny list (case-insensitive).
func deniedLicence(c sbomComponent, deny []string) string {
	for _, id := range licenceIDs(c.Licenses) {
		for _, d := range deny {
			if strings.EqualFold(id, d) {
				return id
			}
		}
	}
	return ""
}

// rangeManifests are manifests that may name version ranges: without their
// lock file the versions installed are not the ones reviewed. (go.mod pins
// exact versions, so Go modules need no lock file.)
var rangeManifests = map[string]string{
	"package.json": "package-lock.json, yarn.lock or pnpm-lock.yaml", "requirements.txt": "a hashed requirements file or a lock file",
	"pyproject.toml": "poetry.lock, uv.lock or pdm.lock", "Pipfile": "Pipfile.lock", "Gemfile": "Gemfile.lock",
	"Cargo.toml": "Cargo.lock", "composer.json": "composer.lock",
}

// missingLockfile names a manifest among the components' locations that
// calls for a lock file the SBOM does not have.
func missingLockfile(cs []sbomComponent, lockfilePresent bool) (manifest, want string) {
	if lockfilePresent {
		return "", ""
	}
	for _, c := range cs {
		if w, ok := rangeManifests[path.Base(c.Location)]; ok && c.Location != "" {
			return c.Location, w
		}
	}
	return "", ""
}

// signers are the policy's trusted signers, compiled.
type signers struct {
	keys    map[string]bool // sha256:<hex of DER SubjectPublicKeyInfo>
	keyless []keylessSigner
}

type keylessSigner struct {
	identity, issuer     string
	identityRE, issuerRE *regexp.Regexp
}

// newSigners reads the signers' key files; one that cannot be read or
// compiled is left out (policy validation reports it).
func newSigners(pol *policy.Policy) *signers {
	s := &signers{keys: map[string]bool{}}
	if pol == nil {
		return s
	}
	for _, sg := range pol.Security.Signers {
		if sg.Key != "" {
			if fp := keyFingerprint(sg.Key); fp != "" {
				s.keys[fp] = true
			}
			continue
		}
		k := keylessSigner{identity: sg.Identity, issuer: sg.Issuer}
		if sg.IdentityRegexp != "" {
			k.identityRE, _ = regexp.Compile(sg.IdentityRegexp)
		}
		if sg.IssuerRegexp != "" {
			k.issuerRE, _ = regexp.Compile(sg.IssuerRegexp)
		}
		s.keyless = append(s.keyless, k)
	}
	return s
}

func keyFingerprint(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return ""
	}
	sum := sha256.Sum256(blk.Bytes)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// trusted tells whether a verified signature's signer is one of the
// policy's. Trust comes from the policy only: with no signers listed, no
// signature counts, whatever key or identity the submitter brought.
func (s *signers) trusted(identity, issuer string) bool {
	if s.keys[identity] {
		return true
	}
	for _, k := range s.keyless {
		idOK := (k.identity != "" && k.identity == identity) || (k.identityRE != nil && k.identityRE.MatchString(identity))
		issOK := (k.issuer != "" && k.issuer == issuer) || (k.issuerRE != nil && k.issuerRE.MatchString(issuer))
		if idOK && issOK {
			return true
		}
	}
	return false
}
