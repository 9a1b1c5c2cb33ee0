package sechattest

import "time"

// SetClock replaces the server's clock (message times, throttle windows,
// the edit window) for tests.
func SetClock(s *Server, now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}
