"""Core: ids, entities, errors, names, settings. Pure Python; no I/O at import time."""
