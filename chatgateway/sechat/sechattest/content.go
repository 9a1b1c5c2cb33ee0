package sechattest

// RenderContent is the "content" the server gives text in its events
// (see the package doc's rendering rules), with messages longer than
// partial bytes cut short as 'partial' (partial <= 0: never), so that an
// adapter's tests can check what it makes of content against the text
// itself.
func RenderContent(text string, partial int) string { return renderContent(text, partial) }
