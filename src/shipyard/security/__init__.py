"""Security primitives with no I/O: token generation and hashing, durations, loopback checks."""
