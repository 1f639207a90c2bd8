package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store/chtest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

func deadLetterCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out := runCLI(append([]string{"deadletter"}, args...)...)
	if code != ExitPass {
		t.Fatalf("trilens deadletter %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// TestDeadLetterReplayAfterFix: during a rolling upgrade the scorer meets a
// table without a column its rows need; the event is dead-lettered with the
// reason. Once the column is back, `trilens deadletter replay` re-drives it
// and it is stored.
func TestDeadLetterReplayAfterFix(t *testing.T) {
	ctx := context.Background()
	st := chtest.Store(t)
	srv := natstest.Start(t)
	b := natstest.BusOn(t, srv)
	if err := st.Conn().Exec(ctx, "ALTER TABLE "+st.Database()+".changes DROP COLUMN title"); err != nil {
		t.Fatal(err)
	}
	startScorer(t, b, st, nil)
	env := events.NewEnvelope(events.ID("acme", "deploy-1"), "acme", eventv1.Kind_KIND_CHANGE, &eventv1.Producer{Collector: "test"},
		&eventv1.Subject{Repository: "acme/shop", Service: "shop"}, time.Now())
	ev := &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{
		{Id: "deploy-1", Type: changev1.ChangeType_CHANGE_TYPE_DEPLOY, Status: "success", Title: "release 1.2"}}}}}
	if err := b.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	var dls []bus.DeadLetter
	for deadline := time.Now().Add(60 * time.Second); len(dls) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		if dls, err = b.DeadLetters(ctx, "scorer", 1, 10); err != nil {
			t.Fatal(err)
		}
	}
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want the event", len(dls))
	}
	url := "--nats-url=" + srv.ClientURL()
	list := deadLetterCLI(t, "list", url, "--consumer=scorer")
	if !strings.Contains(list, env.GetEventId()) || !strings.Contains(strings.ToLower(list), "title") {
		t.Fatalf("deadletter list does not name the event and the missing column:\n%s", list)
	}
	show := deadLetterCLI(t, "show", url, fmt.Sprint(dls[0].Sequence))
	if !strings.Contains(show, "release 1.2") || !strings.Contains(show, "subject:    "+events.EvidenceSubject("acme", eventv1.Kind_KIND_CHANGE)) {
		t.Fatalf("deadletter show lacks the event or its subject:\n%s", show)
	}

	if err := st.Conn().Exec(ctx, "ALTER TABLE "+st.Database()+".changes ADD COLUMN title String"); err != nil {
		t.Fatal(err)
	}
	if out := deadLetterCLI(t, "replay", url, "--all", "--consumer=scorer"); !strings.Contains(out, "1 dead letters replayed") {
		t.Fatalf("replay: %s", out)
	}
	var title string
	for deadline := time.Now().Add(60 * time.Second); title == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_ = st.Conn().QueryRow(ctx, "SELECT any(title) FROM "+st.Database()+".changes WHERE event_id = ?", env.GetEventId()).Scan(&title)
	}
	if title != "release 1.2" {
		t.Fatalf("the replayed change is not stored (title %q)", title)
	}
	if left, err := b.DeadLetters(ctx, "", 1, 10); err != nil || len(left) != 0 {
		t.Fatalf("dead letters left after the replay: %v %v", left, err)
	}
}
