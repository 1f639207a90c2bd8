// Package e2e holds only tests: the trace lens end to end (OTLP/HTTP ->
// tracecollector -> NATS JetStream -> scorer -> ClickHouse) and its benchmark.
package e2e
