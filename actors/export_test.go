package actors

// Test-only views of internal state, for the external test package.

// Tracked returns how many children the strategy holds state for.
func (s *Strategy) Tracked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.children)
}
