// Package trilens is the CLI and the all-in-one runner.
package trilens
