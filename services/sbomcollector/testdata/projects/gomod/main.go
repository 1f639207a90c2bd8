// Command shop is a fixture for syft: a Go module with real dependencies.
package main

import (
	_ "github.com/nats-io/nats.go"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "google.golang.org/protobuf/proto"
)

func main() {}
