// Package scancollector takes security scanner reports over HTTP
// (POST /v1/scans), normalises their findings to one model and publishes them
// as scan events, the whole document going to the object store (claim check).
//
// Accepted formats, detected from the first bytes of the body by the keys
// that identify each (see Detect) or named with ?format=: SARIF 2.1.0 from
// any tool; Trivy JSON (schema 2, the results array before 0.20, trivy k8s);
// Grype JSON; gitleaks 7 and 8 JSON; govulncheck -json (1.x message streams,
// concatenated, line by line or in an array, and the object before 1.0); OWASP
// ZAP's traditional XML and JSON reports and API alert lists. Bodies are
// decoded while streaming, one result at a time, with one bound on a single
// value (64 MiB) and on nesting (10000 levels) for JSON and XML, and copied to
// a temporary file for the object store; nothing is published unless the
// whole body decoded. Empty reports are complete reports with no findings.
//
// # Scope and failed runs
//
// Every run carries what it covered (scanv1.ReportScope: the SARIF run's
// SRCROOT, its automationDetails.id and the language in it or in its
// artifacts; Trivy's ArtifactName or ClusterName; Grype's source; ZAP's
// sites; govulncheck's root modules; the repository gitleaks 7 names) and
// whether the tool says it failed (SARIF executionSuccessful false, with its
// error notification; a trivy k8s resource with an Error).
//
// # Severity, one scale for every tool
//
//	source                              critical  high          medium               low            info
//	CVSS score, SARIF security-severity >= 9.0    >= 7.0        >= 4.0               > 0            0
//	SARIF level (no security-severity)  -         error         warning (default)    note           none
//	Trivy                               CRITICAL  HIGH          MEDIUM               LOW            -   (UNKNOWN: unspecified)
//	Grype                               Critical  High          Medium               Low            Negligible (Unknown: unspecified)
//	govulncheck (no severity of its own) -        symbol called package imported     module required -   (also its reachability)
//	gitleaks (no severity of its own)   -         every leak    -                    -              -
//	ZAP riskcode                        -         3             2                    1              0
//
// # Fingerprints
//
// Stable across re-runs and line shifts. SARIF results use the tool's
// partialFingerprints (else fingerprints) with the path; without them, the
// path, rule and snippet (else message). Other code findings use what
// identifies them in their tool (file and secret hash for gitleaks, URL,
// method and parameter for ZAP). Identical identities in one report get an
// ordinal. Package vulnerabilities use the canonical id (first CVE among the
// merged CVE/GHSA aliases), the package and where it was found, so every
// tool reporting one vulnerability gives it the same fingerprint.
package scancollector
