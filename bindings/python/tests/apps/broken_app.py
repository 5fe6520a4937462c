"""An app module that fails while it is imported (a bug in the app, not a bad value)."""

raise RuntimeError("the app module fails on import")
