package store

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The row types hold one slice per column, tagged `ch:"column_name"`. The
// tags are the only list of a table's columns: Columns, AppendTo and Reset
// derive from them here (reflection once per batch, never per row).

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
	columnSets.Store(t, cs)
	return cs
}

// columnNames lists the ch tags of the struct rows points to.
func columnNames(rows any) []string {
	return columnsOf(reflect.TypeOf(rows).Elem()).names
}

// appendColumns appends every column slice to the batch, after checking that
// all have the same length (a forgotten column in an Append method).
func appendColumns(b driver.Batch, rows any) error {
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

// resetColumns empties every column, keeping the arrays for the next batch.
func resetColumns(rows any) {
	v := reflect.ValueOf(rows).Elem()
	for _, f := range columnsOf(v.Type()).fields {
		col := v.FieldByIndex(f)
		// Clear first so the kept array does not pin old strings and slices.
		col.Clear()
		col.SetLen(0)
	}
}
