// Package alerter tells owners about verdicts as soon as the scorer emits
// them. It consumes the VERDICTS stream with a durable consumer shared by
// every replica, routes each verdict to its owner's receivers from the policy
// (Slack-compatible webhooks, generic JSON webhooks, the Alertmanager v2
// API), merges the verdicts of one batch into one notification per group,
// suppresses repeats of the same verdict for a while (state in a JetStream
// key-value bucket, so replicas and restarts agree; a replica claims an
// alert's state there with a compare-and-set before notifying it, so two
// replicas holding the same verdict notify it once), retries failed
// deliveries with backoff, and records a dead letter when a receiver stays
// down. A batch is acknowledged only once each of its notifications was
// delivered or dead-lettered.
package alerter
