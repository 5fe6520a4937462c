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
