package supervisor

// Test-only views of internal state, for the external test package.

// StoredFailures returns how many failure times the tracker holds.
func (t *Tracker) StoredFailures() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.failures)
}

// StoredCap returns the capacity of the tracker's failure-time slice.
func (t *Tracker) StoredCap() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return cap(t.failures)
}
