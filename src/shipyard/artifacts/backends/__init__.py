"""Plain byte backends under the content-addressed store."""
