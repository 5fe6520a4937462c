package zroute

import "time"

// SetBackoffUnit shortens the re-registration backoff of §9.4 in tests.
func SetBackoffUnit(w *Worker, d time.Duration) { w.backoffUnit = d }
