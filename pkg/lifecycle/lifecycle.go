// Package lifecycle is the contract every long-running part of Trilens keeps,
// and the manager that starts them in dependency order and stops them in reverse.
package lifecycle

import "context"

// Service is a long-running part: an embedded server, a connection, a consumer.
//
// Start connects and provisions, then returns quickly; background work runs
// under a context of its own, never the start context. Stop drains what is in
// flight and releases everything; it is safe without Start and safe twice.
type Service interface {
	Name() string
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Checker is implemented by services that can tell whether they are ready
// (connections up, consumers running); /ready asks every one of them.
type Checker interface {
	Ready(ctx context.Context) error
}
