package bus

import "sync"

// recentAcks is how many acknowledged stream sequences a consumer
// remembers, to drop late copies of them.
const recentAcks = 1 << 17

// inFlight tells a message the consumer holds, or has just acknowledged,
// from a new one. Messages fetched while a slow flush blocks the consumer
// (an outage, a batch being split) outlive AckWait in the client's buffer
// and the server delivers them again; each copy counted a delivery, until
// a copy was dead-lettered "delivered N times without being stored" while
// another was stored (found by the chaos soak). A copy of a held message
// is dropped (the held one is acknowledged or handed back); a copy of an
// acknowledged one is acknowledged again, as its ack may have been lost.
type inFlight struct {
	mu    sync.Mutex
	held  map[uint64]struct{}
	acked map[uint64]struct{}
	ring  []uint64 // acked, oldest first from next
	next  int
}

func newInFlight() *inFlight {
	return &inFlight{held: map[uint64]struct{}{}, acked: map[uint64]struct{}{}, ring: make([]uint64, 0, recentAcks)}
}

// delivery tells a new message from a copy of one the consumer holds or
// has just acknowledged.
type delivery int

const (
	fresh delivery = iota
	copyOfHeld
	copyOfAcked
)

// take holds seq when it is fresh, or says whose copy it is. Sequence 0
// (no metadata) is not tracked.
func (f *inFlight) take(seq uint64) delivery {
	if seq == 0 {
		return fresh
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.held[seq]; ok {
		return copyOfHeld
	}
	if _, ok := f.acked[seq]; ok {
		return copyOfAcked
	}
	f.held[seq] = struct{}{}
	return fresh
}

// release lets go of seq: acked remembers it, otherwise (handed back, dead
// letter) a later delivery is a new one.
func (f *inFlight) release(seq uint64, acked bool) {
	if seq == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.held, seq)
	if !acked {
		return
	}
	if len(f.ring) < cap(f.ring) {
		f.ring = append(f.ring, seq)
	} else {
		delete(f.acked, f.ring[f.next])
		f.ring[f.next] = seq
		f.next = (f.next + 1) % len(f.ring)
	}
	f.acked[seq] = struct{}{}
}
