package sechat

// Internal constants for the external tests.
const (
	PlainRetryDelay = plainRetryDelay
	PlainTries      = plainTries
)
