"""The escalation number: a call to it opens a production-down request and pages at once."""
