package sechattest

// RequestsTo returns how many requests hit exactly path (e.g.
// "/message/42", which Requests("/message/42") would mix with
// "/message/420"): what a benchmark counts per message.
func (s *Server) RequestsTo(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}
