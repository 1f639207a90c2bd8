package web

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/trilens/trilens/services/alerter"
)

// Inbox is a receiver of the alerter's generic JSON webhook that keeps the
// latest notifications for the page to list: the demo points every team's
// alerts at one, so they reach somewhere visible instead of the example
// policy's placeholder Slack and Alertmanager addresses.
type Inbox struct {
	mu   sync.Mutex
	list []alerter.Notification
	max  int
}

// NewInbox keeps the newest max notifications.
func NewInbox(max int) *Inbox { return &Inbox{max: max} }

// ServeHTTP takes one notification (POST, the alerter's webhook body).
func (i *Inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var n alerter.Notification
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&n); err != nil {
		http.Error(w, "not a notification: "+err.Error(), http.StatusBadRequest)
		return
	}
	i.mu.Lock()
	// The alerter retries with the same id: keep one copy.
	if !slices.ContainsFunc(i.list, func(o alerter.Notification) bool { return o.ID == n.ID && n.ID != "" }) {
		i.list = append(i.list, n)
		if len(i.list) > i.max {
			i.list = slices.Delete(i.list, 0, len(i.list)-i.max)
		}
	}
	i.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// List returns the tenant's notifications, newest first.
func (i *Inbox) List(tenant string) []alerter.Notification {
	i.mu.Lock()
	defer i.mu.Unlock()
	var out []alerter.Notification
	for k := len(i.list) - 1; k >= 0; k-- {
		if i.list[k].Tenant == tenant {
			out = append(out, i.list[k])
		}
	}
	return out
}
