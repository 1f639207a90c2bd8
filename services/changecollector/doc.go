// Package changecollector takes CI runs, deploys, rollbacks and incidents
// on POST /v1/changes, in the shapes their tools already send (GitHub and
// GitLab webhooks, CDEvents in CloudEvents, Alertmanager notifications) or
// a generic JSON shape, verifies webhook signatures per tenant, and
// publishes one Change event per change. README.md documents the shapes.
package changecollector
