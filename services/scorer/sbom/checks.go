// Package sbom is the SBOM lens: it checks complete SBOMs (licence deny
// list, unpinned dependencies, missing lock files), diffs each against the
// previous SBOM of its artifact, records why artifacts fail verification,
// and scores the SBOM KPIs (signed, provenance and SLSA shares and levels).
package sbom

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/trilens/trilens/pkg/policy"
	"github.com/trilens/trilens/pkg/store"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/evidence"
)

// SBOM lens KPIs. Per SBOM (scope: artifact name): unpinned dependencies and
// denied licences; per attested artifact: SLSA level; per repository: the
// share of artifacts signed and verified by a trusted signer, and the share
// with verified provenance.
const (
	KPISBOMUnpinned       = "sbom_unpinned_dependencies"
	KPISBOMDeniedLicences = "sbom_denied_licences"
	KPISBOMSignedShare    = "sbom_artifacts_signed_verified_share"
	KPISBOMProvenance     = "sbom_artifacts_provenance_share"
	KPISBOMSLSALevel      = "sbom_slsa_level"
)

// sbomLens is the lens of the SBOM KPIs (the scorecard's security lens).
const sbomLens = "security"

// Checks recorded in sbom_violations.
const (
	CheckDeniedLicence       = "denied_licence"
	CheckUnpinned            = "unpinned"
	CheckMissingLockfile     = "missing_lockfile"
	CheckSignatureUnverified = "signature_unverified"
	CheckSignerUntrusted     = "signer_untrusted"
	CheckProvenanceMismatch  = "provenance_mismatch"
)

// Checks scores SBOMs and artifact verifications. An SBOM is checked
// once all its parts are stored (the parts of a report may come in several
// batches): licence deny-list, unpinned dependencies and missing lock files,
// and its diff against the previous SBOM of the same artifact name. Every
// row is keyed by the report or event, so a replay rewrites the same rows.
type Checks struct {
	st      *store.Store
	pol     *policy.Policy
	signers *signers
}

// New checks SBOMs and artifacts against set's policy.
func New(set evidence.Settings) *Checks {
	return &Checks{st: set.Store, pol: set.Policy, signers: newSigners(set.Policy)}
}

func (p *Checks) Name() string { return "sbom_checks" }

func (p *Checks) Process(ctx context.Context, evs []*eventv1.Event) error {
	var viol sbomViolationRows
	var diffs sbomDiffRows
	var points store.KPIPointRows
	reports := map[string]*eventv1.Event{} // tenant + report id -> one of its events
	repos := map[string]*eventv1.Event{}   // tenant + repository -> latest event touching it
	for _, ev := range evs {
		env := ev.GetEnvelope()
		switch pl := ev.GetPayload().(type) {
		case *eventv1.Event_Sbom:
			reports[env.GetTenant()+"\x00"+env.GetPart().GetReportId()] = ev
		case *eventv1.Event_Artifact:
			p.checkArtifact(&viol, &points, env, pl)
		default:
			continue
		}
		k := env.GetTenant() + "\x00" + env.GetSubject().GetRepository()
		if prev, ok := repos[k]; !ok || evidence.ObservedAt(prev.GetEnvelope()).Before(evidence.ObservedAt(env)) {
			repos[k] = ev
		}
	}
	for _, ev := range reports {
		if err := p.checkReport(ctx, &viol, &diffs, &points, ev.GetEnvelope()); err != nil {
			return err
		}
	}
	for _, ev := range repos {
		if err := p.repositoryShares(ctx, &points, ev.GetEnvelope()); err != nil {
			return err
		}
	}
	var tables []store.Table
	for _, t := range []store.Table{&viol, &diffs, &points} {
		if t.Len() > 0 {
			tables = append(tables, t)
		}
	}
	if len(tables) == 0 {
		return nil
	}
	return p.st.Insert(ctx, tables...)
}

func (p *Checks) owner(sub *eventv1.Subject) string {
	return p.pol.OwnerOfService(sub.GetService())
}

// checkArtifact records why an artifact failed verification and its SLSA level.
func (p *Checks) checkArtifact(viol *sbomViolationRows, points *store.KPIPointRows, env *eventv1.Envelope, pl *eventv1.Event_Artifact) {
	a, sub := pl.Artifact, env.GetSubject()
	s := sbomSubject{tenant: env.GetTenant(), reportID: env.GetEventId(), repository: sub.GetRepository(), commit: sub.GetCommit(),
		branch: sub.GetBranch(), observedAt: evidence.ObservedAt(env), artifactName: a.GetName(), artifactDigest: a.GetDigest()}
	switch {
	case !a.GetVerified():
		viol.add(s, CheckSignatureUnverified, "", "", a.GetVerificationError())
	case !p.signers.trusted(a.GetSignerIdentity(), a.GetSignerIssuer()):
		viol.add(s, CheckSignerUntrusted, "", "", fmt.Sprintf("signer %q (issuer %q) is not among the policy's signers", a.GetSignerIdentity(), a.GetSignerIssuer()))
	}
	prov := a.GetProvenance()
	if prov == nil {
		return
	}
	if !prov.GetSubjectMatch() {
		viol.add(s, CheckProvenanceMismatch, "", "", prov.GetMismatchReason())
	}
	// A level counts only on provenance a policy signer vouches for; the
	// collector took the builder from the certificate or the trusted key.
	level, min := 0.0, float64(p.pol.Security.MinSLSALevel)
	if a.GetVerified() && p.signers.trusted(a.GetSignerIdentity(), a.GetSignerIssuer()) {
		level = float64(prov.GetSlsaLevel())
	}
	points.Append(store.KPIPoint{Scope: evidence.ScopeOf(env), Lens: sbomLens, KPI: KPISBOMSLSALevel, KPIScope: a.GetName(),
		Value: level, Budget: min, Status: evidence.StatusOf(level >= min), Owner: p.owner(sub), EvidenceIDs: []string{env.GetEventId()}})
}

// checkReport checks a complete SBOM report; an incomplete one waits for the
// batch that brings its last part.
func (p *Checks) checkReport(ctx context.Context, viol *sbomViolationRows, diffs *sbomDiffRows, points *store.KPIPointRows, env *eventv1.Envelope) error {
	db, tenant, reportID := p.st.Database(), env.GetTenant(), env.GetPart().GetReportId()
	var parts uint64
	var count uint32
	var received time.Time
	if err := p.st.Conn().QueryRow(ctx, `SELECT uniqExact(part_index), any(part_count), max(received_at) FROM `+db+`.evidence_log FINAL
		WHERE tenant = ? AND kind = 'sbom' AND report_id = ?`, tenant, reportID).Scan(&parts, &count, &received); err != nil {
		return fmt.Errorf("sbom report parts: %w", err)
	}
	if parts < uint64(count) || count == 0 {
		return nil
	}
	cs, name, digest, lockfile, err := p.reportComponents(ctx, tenant, reportID)
	if err != nil {
		return err
	}
	sub := env.GetSubject()
	s := sbomSubject{tenant: tenant, reportID: reportID, repository: sub.GetRepository(), commit: sub.GetCommit(),
		branch: sub.GetBranch(), observedAt: evidence.ObservedAt(env), artifactName: name, artifactDigest: digest}
	sec := p.pol.Security
	var unpinned, denied int
	for _, c := range cs {
		if id := deniedLicence(c, sec.DenyLicences); id != "" {
			denied++
			viol.add(s, CheckDeniedLicence, c.Purl, c.Name, fmt.Sprintf("licence %s is on the deny list (%s)", id, strings.Join(c.Licenses, ", ")))
		}
		if !c.Pinned {
			unpinned++
			viol.add(s, CheckUnpinned, c.Purl, c.Name, fmt.Sprintf("version %q floats (%s)", c.Version, c.Constraint))
		}
	}
	if manifest, want := missingLockfile(cs, lockfile); manifest != "" {
		unpinned++
		viol.add(s, CheckMissingLockfile, "", manifest, fmt.Sprintf("%s has no lock file: want %s", manifest, want))
	}
	scope, owner := evidence.ScopeOf(env), p.owner(sub)
	scope.EventID = reportID
	points.Append(store.KPIPoint{Scope: scope, Lens: sbomLens, KPI: KPISBOMUnpinned, KPIScope: name, Value: float64(unpinned),
		Status: evidence.StatusOf(unpinned == 0 || !sec.RequirePinnedDependencies), Owner: owner, EvidenceIDs: []string{reportID}})
	points.Append(store.KPIPoint{Scope: scope, Lens: sbomLens, KPI: KPISBOMDeniedLicences, KPIScope: name, Value: float64(denied),
		Status: evidence.StatusOf(denied == 0), Owner: owner, EvidenceIDs: []string{reportID}})

	prevID, err := p.previousReport(ctx, tenant, sub.GetRepository(), name, reportID, s.observedAt, received)
	if err != nil || prevID == "" {
		return err
	}
	prev, _, _, _, err := p.reportComponents(ctx, tenant, prevID)
	if err != nil {
		return err
	}
	for _, d := range diffComponents(prev, cs) {
		diffs.add(s, prevID, d)
	}
	return nil
}

// reportComponents reads back the components of a stored report.
func (p *Checks) reportComponents(ctx context.Context, tenant, reportID string) (cs []sbomComponent, name, digest string, lockfile bool, err error) {
	db := p.st.Database()
	rows, err := p.st.Conn().Query(ctx, `SELECT purl, name, version, type, licenses, pinned, version_constraint, location,
		lockfile_present, artifact_name, artifact_digest FROM `+db+`.components FINAL
		WHERE tenant = ? AND event_id IN (SELECT event_id FROM `+db+`.evidence_log FINAL WHERE tenant = ? AND kind = 'sbom' AND report_id = ?)`,
		tenant, tenant, reportID)
	if err != nil {
		return nil, "", "", false, fmt.Errorf("sbom components: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c sbomComponent
		var pinned, lock uint8
		if err := rows.Scan(&c.Purl, &c.Name, &c.Version, &c.Type, &c.Licenses, &pinned, &c.Constraint, &c.Location, &lock, &name, &digest); err != nil {
			return nil, "", "", false, err
		}
		c.Pinned, lockfile = pinned == 1, lockfile || lock == 1
		cs = append(cs, c)
	}
	return cs, name, digest, lockfile, rows.Err()
}

// previousReport is the newest complete SBOM report of the same artifact
// name in the repository before this one (by observed, then received time).
func (p *Checks) previousReport(ctx context.Context, tenant, repo, name, reportID string, observed, received time.Time) (string, error) {
	db := p.st.Database()
	rows, err := p.st.Conn().Query(ctx, `SELECT report_id FROM `+db+`.evidence_log FINAL
		WHERE tenant = ? AND kind = 'sbom' AND repository = ? AND report_id != ?
		  AND event_id IN (SELECT event_id FROM `+db+`.components WHERE tenant = ? AND repository = ? AND artifact_name = ?)
		GROUP BY report_id
		HAVING uniqExact(part_index) = any(part_count)
		   AND (max(observed_at) < ? OR (max(observed_at) = ? AND max(received_at) < ?))
		ORDER BY max(observed_at) DESC, max(received_at) DESC, report_id DESC
		LIMIT 1`, tenant, repo, reportID, tenant, repo, name, observed, observed, received)
	if err != nil {
		return "", fmt.Errorf("previous sbom: %w", err)
	}
	defer rows.Close()
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
	}
	return id, rows.Err()
}

// repositoryShares writes the share of a repository's artifacts that are
// signed and verified by a trusted signer, and that have verified
// provenance. The artifacts are those with a verification or with an SBOM
// that names a digest: an artifact with an SBOM and no signature counts as
// unsigned.
func (p *Checks) repositoryShares(ctx context.Context, points *store.KPIPointRows, env *eventv1.Envelope) error {
	db, tenant, repo := p.st.Database(), env.GetTenant(), env.GetSubject().GetRepository()
	rows, err := p.st.Conn().Query(ctx, `SELECT digest, groupArray(signer_identity), groupArray(signer_issuer), groupArray(verified),
		  groupArray(toUInt8(predicate_type LIKE 'https://slsa.dev/provenance/%' AND subject_match))
		FROM (
		  SELECT digest, verified, signer_identity, signer_issuer, predicate_type, subject_match FROM `+db+`.artifacts FINAL
		  WHERE tenant = ? AND repository = ?
		  UNION ALL
		  SELECT DISTINCT artifact_digest AS digest, toUInt8(0) AS verified, '' AS signer_identity, '' AS signer_issuer, '' AS predicate_type, toUInt8(0) AS subject_match
		  FROM `+db+`.components WHERE tenant = ? AND repository = ? AND artifact_digest != ''
		) GROUP BY digest`, tenant, repo, tenant, repo)
	if err != nil {
		return fmt.Errorf("artifact shares: %w", err)
	}
	defer rows.Close()
	var total, signed, provenance int
	for rows.Next() {
		var digest string
		var ids, issuers []string
		var verified, prov []uint8
		if err := rows.Scan(&digest, &ids, &issuers, &verified, &prov); err != nil {
			return err
		}
		total++
		isSigned, hasProvenance := false, false
		for i := range ids {
			if verified[i] == 1 && p.signers.trusted(ids[i], issuers[i]) {
				isSigned = true
				hasProvenance = hasProvenance || prov[i] == 1
			}
		}
		if isSigned {
			signed++
		}
		if hasProvenance {
			provenance++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if total == 0 {
		return nil
	}
	sec := p.pol.Security
	scope, owner := evidence.ScopeOf(env), p.owner(env.GetSubject())
	add := func(kpi string, n int, required bool) {
		share, budget := float64(n)/float64(total), 0.0
		if required {
			budget = 1
		}
		points.Append(store.KPIPoint{Scope: scope, Lens: sbomLens, KPI: kpi, KPIScope: repo, Value: share, Budget: budget,
			Status: evidence.StatusOf(share >= budget), Owner: owner, EvidenceIDs: []string{env.GetEventId()}})
	}
	add(KPISBOMSignedShare, signed, sec.RequireSigned || sec.RequireVerified)
	add(KPISBOMProvenance, provenance, sec.RequireProvenance)
	return nil
}
