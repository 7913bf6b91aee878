"""Per-step environments: a step's declared requirements resolved once into a lock and installed
once into a content-addressed folder, in which its tasks run.

- :mod:`.uv` finds the ``uv`` binary and runs it (the one place a resolver or installer is called);
- :mod:`.lock` resolves requirements into a hashed lock (``uv pip compile --generate-hashes``),
  cached by the request so a second run resolves nothing;
- :mod:`.store` installs a lock into ``<home>/envs/<lock hash>/site`` (built in a temporary folder,
  renamed into place, under a file lock);
- :mod:`.prepare` does both for every step before a run is created and records the locks with it;
- :mod:`.dispatch` is the task entry point the executors are given: a task with an environment runs
  in a long-lived child process (:mod:`.child`) that sees the environment first on its path;
- :mod:`.image` writes a Dockerfile from the locks (``shipyard image build``).
"""
