"""The `shipyard` command: one module per noun; parses, calls the library, prints."""
