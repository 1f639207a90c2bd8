// Package dora computes DORA's four keys from the changes the change
// collector records, and gates deploys whose artifact nobody signed.
//
// # Definitions
//
// The keys follow the DORA research programme (Accelerate, Forsgren, Humble
// and Kim, 2018; the yearly State of DevOps reports) and count production
// only: deploys and rollbacks whose environment class is production, and
// whose latest state is success. Every change is taken at its latest state
// (the last event of its id); a time of 0 (1970) is absent, never a date.
//
//   - Deployment frequency: how often the organisation deploys to
//     production. Reported as deploys, deploys per day and per week over the
//     window, and as DORA's band: elite (on demand, several a day), high
//     (between daily and weekly), medium (weekly to monthly), low.
//   - Lead time for changes: the time a commit takes to reach production,
//     from the commit's time to the end of the first production deploy that
//     carries it (the commits the deploy lists). Reported as the median and
//     the 90th percentile over commits; commits without a time are left out.
//   - Change failure rate: the share of production deploys that caused a
//     failure in production. A deploy failed when, before the next
//     production deploy of its service, an incident of the service began, a
//     rollback undid it (a rollback naming the deploy's id or commit is
//     attributed to that deploy, else to the last deploy before it), the
//     next deploy reverts it (its title starts with "Revert"), or the
//     regression engine found a budget regression of any lens in production
//     (a verdict of reason regression or change_point, status fail, whose
//     environment is production or unnamed, as production traces often
//     are). A verdict is attributed to the last production deploy of its
//     service before the verdict's point: for a regression that is the
//     point that regressed; a change_point verdict is dated by the first
//     point of the new regime, so it names the deploy after which the
//     series changed, even when a later deploy went out before enough
//     points confirmed the shift.
//     Incidents without a service count for the tenant only.
//   - Time to restore service: how long it takes to recover from a failure
//     in production: from an incident's start to its resolution, and from a
//     failed deploy to the rollback that undid it. Reported as the median;
//     incidents still open are counted apart.
//
// Keys are given for the tenant, per service and per team (the owner of the
// service in the policy).
//
// # Deployed but unsigned
//
// Unsigned follows each production deploy: when a service's latest
// production deploy names an artifact digest that has no verified
// signature or provenance among the artifacts the SBOM lens stored, the
// service gets a failing security KPI point (deployed_unsigned), a blocking
// gap on the scorecard until a verified artifact of that digest arrives. A
// deploy without a digest cannot be checked and gets no point.
package dora
