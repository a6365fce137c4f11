"""Views of a report: text (rich), JSON; more formats build on the same report dict."""
