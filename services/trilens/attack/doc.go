// Package attack is Trilens's attack suite: each test is one attack on a
// running `trilens` (every service in one process, real NATS and a real
// ClickHouse), asserting the refusal and that no data changed. The routes
// are enumerated from the servers themselves, so a route added later is
// attacked too and fails the suite if it escapes the guard.
package attack
