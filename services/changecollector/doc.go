// Package changecollector takes CI runs, deploys, rollbacks and incidents.
package changecollector
