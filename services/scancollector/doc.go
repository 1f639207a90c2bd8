// Package scancollector takes security scanner reports over HTTP
// (POST /v1/scans), normalises their findings to one model and publishes them
// as scan events, the whole document going to the object store (claim check).
//
// Accepted formats, detected from the first bytes of the body or named with
// ?format=: SARIF 2.1.0 from any tool, Trivy JSON, Grype JSON, gitleaks JSON,
// govulncheck -json and OWASP ZAP JSON. Bodies are decoded while streaming,
// one result at a time, and copied to a temporary file for the object store;
// nothing is published unless the whole body decoded.
//
// # Severity, one scale for every tool
//
//	source                              critical  high          medium               low            info
//	CVSS score, SARIF security-severity >= 9.0    >= 7.0        >= 4.0               > 0            0
//	SARIF level (no security-severity)  -         error         warning (default)    note           none
//	Trivy                               CRITICAL  HIGH          MEDIUM               LOW            -   (UNKNOWN: unspecified)
//	Grype                               Critical  High          Medium               Low            Negligible (Unknown: unspecified)
//	govulncheck (no severity of its own) -        symbol called package imported     module required -
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
