package zroute

import (
	"testing"
	"time"
)

// Rule 2 of §9.4 with the real unit: 1 s, doubling, capped at 32 s (32 s
// times a 1 s unit once overflowed into a negative delay, so a worker
// refused twice retried without any backoff).
func TestNextDelay(t *testing.T) {
	for _, unit := range []time.Duration{time.Second, 10 * time.Millisecond} {
		var d time.Duration
		for i, want := range []time.Duration{1, 2, 4, 8, 16, 32, 32, 32} {
			d = nextDelay(d, unit)
			if d != want*unit {
				t.Fatalf("unit %v, failure %d: delay %v, want %v", unit, i+1, d, want*unit)
			}
		}
	}
}

// Rule 4 of §9.4: a router shutting down is asked again after the last
// WELCOME's heartbeat interval, capped at 1 s (1 s without a WELCOME), and
// this neither doubles nor touches rule 2's count of failures.
func TestBackoffRouterShuttingDown(t *testing.T) {
	b := backoff{unit: time.Second}
	check := func(step string, want time.Duration) {
		t.Helper()
		if got := b.next(); got != want {
			t.Fatalf("%s: next delay %v, want %v", step, got, want)
		}
	}
	check("start", 0)
	for range 5 {
		b.routerShuttingDown(200 * time.Millisecond)
		check("refused by a router shutting down", 200*time.Millisecond)
	}
	b.routerShuttingDown(5 * time.Second)
	check("long heartbeat interval", time.Second)
	b.routerShuttingDown(0)
	check("no WELCOME yet", time.Second)
	// The refusals added no failure: rule 2 starts at 1 s.
	b.failed()
	check("first failure", time.Second)
	b.failed()
	check("second failure", 2*time.Second)
	// Nor did they reset the count: the next failure doubles again.
	b.routerShuttingDown(200 * time.Millisecond)
	check("refused again", 200*time.Millisecond)
	b.failed()
	check("third failure", 4*time.Second)
	b.succeeded()
	check("after a WELCOME", 0)
	b.routerShuttingDown(200 * time.Millisecond)
	b.succeeded()
	check("WELCOME after a refusal", 0)
}
