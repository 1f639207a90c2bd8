// Package respond writes the scorer API's JSON answers and reads the query
// parameters every route shares, so the lens routes and the scorecard API
// answer alike.
package respond

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/trilens/trilens/pkg/events"
)

// Error is the body of an answer that is not 2xx; Field names the parameter at fault.
type Error struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Tenant reads ?tenant= (default "default"); on a bad one it answers 400
// and ok is false.
func Tenant(w http.ResponseWriter, q url.Values) (string, bool) {
	t := q.Get("tenant")
	if t == "" {
		t = "default"
	}
	if err := events.ValidateTenant(t); err != nil {
		JSON(w, http.StatusBadRequest, Error{err.Error(), "tenant"})
		return "", false
	}
	return t, true
}
