"""Security primitives with no I/O: token generation, hashing and strength, durations, loopback and
Host checks, the failed-authentication throttle."""
