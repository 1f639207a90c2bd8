package store

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The row types hold one slice per column, tagged `ch:"column_name"`. The
// tags are the only list of a table's columns: Columns, AppendTo and Reset
// derive from them here (reflection once per batch, never per row). Tables
// outside this package can implement Table the same way:
//
//	type partRows struct {
//		Tenant   []string `ch:"tenant"`
//		ReportID []string `ch:"report_id"`
//	}
//	func (r *partRows) Name() string                   { return "scan_report_parts" }
//	func (r *partRows) Columns() []string              { return store.ColumnNames(r) }
//	func (r *partRows) Len() int                       { return len(r.Tenant) }
//	func (r *partRows) AppendTo(b driver.Batch) error { return store.AppendColumns(b, r) }
//	func (r *partRows) Reset()                         { store.ResetColumns(r) }

type columnSet struct {
	names  []string
	fields [][]int // field index paths; embedded structs (ScopeColumns) are walked
}

var columnSets sync.Map // reflect.Type -> *columnSet

func columnsOf(t reflect.Type) *columnSet {
	if cs, ok := columnSets.Load(t); ok {
		return cs.(*columnSet)
	}
	cs := &columnSet{}
	for _, f := range reflect.VisibleFields(t) {
		name := f.Tag.Get("ch")
		if name == "" {
			continue
		}
		if f.Type.Kind() != reflect.Slice {
			panic(fmt.Sprintf("store: %s.%s: a column must be a slice", t.Name(), f.Name))
		}
		cs.names = append(cs.names, name)
		cs.fields = append(cs.fields, f.Index)
	}
	if len(cs.names) == 0 {
		panic(fmt.Sprintf("store: %s has no ch-tagged columns", t.Name()))
	}
	columnSets.Store(t, cs)
	return cs
}

// ColumnNames lists the ch tags of the struct rows points to, in field order
// (fields of embedded structs such as ScopeColumns included).
func ColumnNames(rows any) []string {
	return columnsOf(reflect.TypeOf(rows).Elem()).names
}

// AppendColumns appends every column slice to the batch, after checking that
// all have the same length (a forgotten column in an Append method).
func AppendColumns(b driver.Batch, rows any) error {
	v := reflect.ValueOf(rows).Elem()
	cs := columnsOf(v.Type())
	n := v.FieldByIndex(cs.fields[0]).Len()
	for i, f := range cs.fields {
		col := v.FieldByIndex(f)
		if col.Len() != n {
			return fmt.Errorf("%s: column %s has %d rows, %s has %d", v.Type().Name(), cs.names[i], col.Len(), cs.names[0], n)
		}
		if err := b.Column(i).Append(col.Interface()); err != nil {
			return fmt.Errorf("column %s: %w", cs.names[i], err)
		}
	}
	return nil
}

// ResetColumns empties every column, keeping the arrays for the next batch.
func ResetColumns(rows any) {
	v := reflect.ValueOf(rows).Elem()
	for _, f := range columnsOf(v.Type()).fields {
		col := v.FieldByIndex(f)
		// Clear first so the kept array does not pin old strings and slices.
		col.Clear()
		col.SetLen(0)
	}
}
