// Package tenantusers gives each tenant a read-only ClickHouse user that
// sees only that tenant's rows, for the Grafana data source of the tenant's
// folder: a viewer who writes raw SQL still reads nothing of another tenant.
//
// Two mechanisms, one per server generation:
//   - ClickHouse 18.16 has no row filters and checks a view's tables against
//     the invoking user. So each tenant gets a database of Distributed
//     tables (the only one its user may open) over a private database of
//     views filtered on `tenant`, reached through the cluster
//     `trilens_tenants` (the server itself, as a user that may read them).
//     The tenant profile sets prefer_localhost_replica=0 so the read really
//     goes through that connection, not the tenant user's own rights.
//   - Current servers (20.4 and later) have row policies: RowPolicyUsersXML
//     gives each user a row filter on `tenant` for every table of the
//     database, in users.xml. Rendered as a users file rather than as SQL
//     (CREATE ROW POLICY) because a users file needs no SQL-writable access
//     storage: it is mounted like deploy/clickhouse/users.d, and chDB, whose
//     in-process server has only the read-only users_xml storage, loads it
//     too, so the policies are tested on 26.x exactly as rendered.
package tenantusers

import (
	"context"
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/trilens/trilens/pkg/events"
)

// Cluster is the remote_servers entry the Distributed tables read through.
const Cluster = "trilens_tenants"

// Profile is the settings profile of tenant users: SELECT only, bounded.
const Profile = "trilens_tenant_readonly"

// User is the ClickHouse user of one tenant.
type User struct {
	// Name of the ClickHouse user, e.g. grafana_acme.
	Name   string
	Tenant string
	// PasswordSHA256 is the hex SHA-256 of the password (never the password).
	PasswordSHA256 string
	// Networks the user may connect from (CIDRs); loopback when empty.
	Networks []string
}

var identifier = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,63}$`)
var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate checks u before it is rendered into configuration or SQL.
func (u User) Validate() error {
	if !identifier.MatchString(u.Name) {
		return fmt.Errorf("user %q: want letters, digits and underscores", u.Name)
	}
	if err := events.ValidateTenant(u.Tenant); err != nil {
		return fmt.Errorf("user %s: %w", u.Name, err)
	}
	if !hexSHA256.MatchString(u.PasswordSHA256) {
		return fmt.Errorf("user %s: password_sha256 must be 64 lower-case hex digits", u.Name)
	}
	return nil
}

// TenantTables lists the tables and views of db that have a tenant column:
// every one of them is covered, so a table added by a later migration is
// covered as soon as the tenant schema is rendered again.
func TenantTables(ctx context.Context, conn driver.Conn, db string) ([]string, error) {
	q, err := TenantTablesSQL(db)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("tables with a tenant column: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		if !identifier.MatchString(t) {
			return nil, fmt.Errorf("table %q: unexpected name", t)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TenantTablesSQL is the query TenantTables runs: one column, the names of
// db's tables and views with a tenant column, sorted.
func TenantTablesSQL(db string) (string, error) {
	if !identifier.MatchString(db) {
		return "", fmt.Errorf("database %q: want letters, digits and underscores", db)
	}
	return "SELECT DISTINCT table FROM system.columns WHERE database = '" + db + "' AND name = 'tenant' ORDER BY table", nil
}

// Database is the database a tenant's user opens (18.16 mechanism).
func Database(db, tenant string) string { return db + "_tenant_" + tenant }

// sourceDatabase holds the filtered views, closed to the tenant's user.
func sourceDatabase(db, tenant string) string { return db + "_tenant_src_" + tenant }

// Schema is the DDL of one tenant's databases (18.16 mechanism; it runs on
// current servers too): a filtered view per table, and a Distributed table
// over each view in the database the tenant's user may open. Idempotent.
func Schema(db string, tables []string, tenant string) ([]string, error) {
	return ClusterSchema(db, "", tables, tenant)
}

// ClusterSchema is Schema for a store whose schema is rendered ON CLUSTER
// (store.cluster): every statement runs on every replica, and the replicas'
// own `_local` tables are left out, since the tenant reads the Distributed
// table over them. Each replica's Cluster entry is the replica itself, so a
// tenant user reads its rows through whichever replica it connects to.
// An empty cluster is Schema.
func ClusterSchema(db, cluster string, tables []string, tenant string) ([]string, error) {
	if err := events.ValidateTenant(tenant); err != nil {
		return nil, err
	}
	if !identifier.MatchString(db) {
		return nil, fmt.Errorf("database %q: want letters, digits and underscores", db)
	}
	on := ""
	if cluster != "" {
		if !identifier.MatchString(cluster) {
			return nil, fmt.Errorf("cluster %q: want letters, digits and underscores", cluster)
		}
		on = " ON CLUSTER `" + cluster + "`"
	}
	src, dst := sourceDatabase(db, tenant), Database(db, tenant)
	ddl := []string{
		fmt.Sprintf("CREATE DATABASE IF NOT EXISTS `%s`%s", src, on),
		fmt.Sprintf("CREATE DATABASE IF NOT EXISTS `%s`%s", dst, on),
	}
	for _, t := range slices.Sorted(slices.Values(tables)) {
		if !identifier.MatchString(t) {
			return nil, fmt.Errorf("table %q: unexpected name", t)
		}
		if cluster != "" && strings.HasSuffix(t, "_local") {
			continue
		}
		ddl = append(ddl,
			fmt.Sprintf("CREATE VIEW IF NOT EXISTS `%s`.`%s`%s AS SELECT * FROM `%s`.`%s` WHERE tenant = '%s'", src, t, on, db, t, tenant),
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS `%s`.`%s`%s AS `%s`.`%s` ENGINE = Distributed(%s, '%s', '%s')", dst, t, on, src, t, Cluster, src, t))
	}
	return ddl, nil
}

type userXML struct {
	XMLName        xml.Name
	PasswordSHA256 string         `xml:"password_sha256_hex"`
	Networks       []string       `xml:"networks>ip"`
	Profile        string         `xml:"profile"`
	Quota          string         `xml:"quota"`
	AllowDatabases []string       `xml:"allow_databases>database"`
	RowFilters     []dbFiltersXML `xml:"databases>x,omitempty"`
}

// dbFiltersXML is a users.xml row policy block: <db><table><filter>.
type dbFiltersXML struct {
	XMLName xml.Name
	Tables  []filterXML
}

type filterXML struct {
	XMLName xml.Name
	Filter  string `xml:"filter"`
}

// UsersXML renders a users.d file (18.16 and current servers): the
// read-only profile, and per user a login limited to its tenant's database.
func UsersXML(db string, users []User) ([]byte, error) {
	if !identifier.MatchString(db) {
		return nil, fmt.Errorf("database %q: want letters, digits and underscores", db)
	}
	return renderUsers(users, func(u User, ux *userXML) {
		ux.AllowDatabases = []string{Database(db, u.Tenant)}
	})
}

// RowPolicyUsersXML renders a users.d file for servers with row policies
// (ClickHouse 20.4 and later, 26.x included): each user opens db itself, and
// every table of tables gets the row filter tenant = '<its tenant>', which
// the server loads as a row policy of that user. tables should be every
// table and view with a tenant column (TenantTables); render again after a
// migration adds one.
func RowPolicyUsersXML(db string, tables []string, users []User) ([]byte, error) {
	if !identifier.MatchString(db) {
		return nil, fmt.Errorf("database %q: want letters, digits and underscores", db)
	}
	for _, t := range tables {
		if !identifier.MatchString(t) {
			return nil, fmt.Errorf("table %q: unexpected name", t)
		}
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("database %s: no tables to filter; want the tables with a tenant column", db)
	}
	sorted := slices.Sorted(slices.Values(tables))
	return renderUsers(users, func(u User, ux *userXML) {
		filters := dbFiltersXML{XMLName: xml.Name{Local: db}}
		for _, t := range sorted {
			// ValidateTenant allows no quote, so the literal cannot be escaped from.
			filters.Tables = append(filters.Tables, filterXML{XMLName: xml.Name{Local: t}, Filter: "tenant = '" + u.Tenant + "'"})
		}
		ux.AllowDatabases, ux.RowFilters = []string{db}, []dbFiltersXML{filters}
	})
}

// renderUsers renders the read-only profile and one user per entry of users,
// completed by scope.
func renderUsers(users []User, scope func(User, *userXML)) ([]byte, error) {
	type root struct {
		XMLName  xml.Name `xml:"yandex"`
		Profiles struct {
			Inner string `xml:",innerxml"`
		} `xml:"profiles"`
		Users []userXML `xml:"users>x"`
	}
	r := root{}
	r.Profiles.Inner = "<" + Profile + "><readonly>2</readonly><max_execution_time>60</max_execution_time>" +
		"<prefer_localhost_replica>0</prefer_localhost_replica></" + Profile + ">"
	for _, u := range users {
		if err := u.Validate(); err != nil {
			return nil, err
		}
		ux := userXML{XMLName: xml.Name{Local: u.Name}, PasswordSHA256: u.PasswordSHA256, Networks: u.Networks,
			Profile: Profile, Quota: "default"}
		if len(ux.Networks) == 0 {
			ux.Networks = []string{"127.0.0.1", "::1"}
		}
		scope(u, &ux)
		r.Users = append(r.Users, ux)
	}
	out, err := xml.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
