package store

import (
	"fmt"
	"strings"
)

// The schema on a cluster (store.cluster): every table is created ON CLUSTER
// as a Replicated*MergeTree named <table>_local on each replica, under a
// Distributed table that keeps the plain name and spreads rows over the
// shards. Code, views, the scorer and the dashboards read and insert the
// plain names unchanged; a row's versions always land on the same shard (the
// sharding key is made of columns of the row's identity), so FINAL on each
// shard is FINAL over the cluster. On one server (cluster empty) every
// helper renders exactly the single-server schema.

// localSuffix names a Distributed table's replicated table on each replica.
const localSuffix = "_local"

// OnCluster is " ON CLUSTER <name>", or nothing on one server.
func (d templateData) OnCluster() string { return onCluster(d.cluster) }

func onCluster(cluster string) string {
	if cluster == "" {
		return ""
	}
	return " ON CLUSTER " + cluster
}

// Local names the table that holds a table's rows: the table itself on one
// server, <table>_local on a cluster.
func (d templateData) Local(table string) string { return localTable(table, d.cluster) }

func localTable(table, cluster string) string {
	if cluster == "" {
		return table
	}
	return table + localSuffix
}

// ReplacingMergeTree is the engine of table (optionally with a version
// column): ReplacingMergeTree(ver) on one server, and on a cluster
// ReplicatedReplacingMergeTree on a per-shard ZooKeeper path, with the
// server's {shard} and {replica} macros.
func (d templateData) ReplacingMergeTree(table string, version ...string) string {
	if d.cluster == "" {
		return "ReplacingMergeTree(" + strings.Join(version, ", ") + ")"
	}
	args := append([]string{
		// The database is written out: 18.16 has no {database} macro.
		fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s'", d.DB, localTable(table, d.cluster)),
		"'{replica}'",
	}, version...)
	return "ReplicatedReplacingMergeTree(" + strings.Join(args, ", ") + ")"
}

// AggregatingMergeTree is the engine of a rollup table: AggregatingMergeTree()
// on one server, ReplicatedAggregatingMergeTree on a per-shard ZooKeeper
// path on a cluster, as ReplacingMergeTree.
func (d templateData) AggregatingMergeTree(table string) string {
	if d.cluster == "" {
		return "AggregatingMergeTree()"
	}
	return fmt.Sprintf("ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/%s/%s', '{replica}')", d.DB, localTable(table, d.cluster))
}

// Distributed is, on a cluster, the statements (each with its ';') that
// (re)create table as a Distributed table over <table>_local's current
// columns, sharded by key; nothing on one server. Migrations call it after
// creating the table and again after altering its columns: 18.16 runs no
// ALTER ON CLUSTER of a Distributed table over replicated shards, so the
// table is created anew. Keys: cityHash64(tenant, repository) where the
// table has both, so a repository's rows share a shard; else leading
// identity columns. Either way a row's versions share a shard.
func (d templateData) Distributed(table, key string) string {
	if d.cluster == "" {
		return ""
	}
	return fmt.Sprintf("DROP TABLE IF EXISTS %[1]s.%[2]s%[3]s;\nCREATE TABLE IF NOT EXISTS %[1]s.%[2]s%[3]s AS %[1]s.%[4]s\nENGINE = Distributed(%[5]s, %[1]s, %[4]s, %[6]s);",
		d.DB, table, d.OnCluster(), localTable(table, d.cluster), d.cluster, key)
}

// Alter names the table an ALTER TABLE changes: db.table on one server,
// db.<table>_local ON CLUSTER on a cluster (follow it with Distributed).
// Use as
//
//	{{range .Alter "findings"}}ALTER TABLE {{.}} ADD COLUMN x String DEFAULT '';
//	{{end}}
//	{{.Distributed "findings" "cityHash64(tenant, repository)"}}
func (d templateData) Alter(table string) []string {
	if d.cluster == "" {
		return []string{d.DB + "." + table}
	}
	return []string{d.DB + "." + localTable(table, d.cluster) + d.OnCluster()}
}

// schemaMigrationsTable creates the migration record. On a cluster it is
// replicated on one ZooKeeper path for the whole cluster (no {shard}), so
// every replica of every shard sees each migration once it is applied.
func schemaMigrationsTable(db, cluster string) string {
	engine := "ReplacingMergeTree()"
	if cluster != "" {
		engine = fmt.Sprintf("ReplicatedReplacingMergeTree('/clickhouse/tables/%s/schema_migrations', '{replica}')", db)
	}
	return "CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations" + onCluster(cluster) + ` (
  version UInt32,
  name String,
  applied_at DateTime
) ENGINE = ` + engine + ` ORDER BY version`
}
