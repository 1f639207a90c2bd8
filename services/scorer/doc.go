// Package scorer consumes evidence into ClickHouse and scores it.
package scorer
