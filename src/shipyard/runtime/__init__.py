"""Runtime: plan and run flows (scheduler), the single task entry point, resume, caching, logs."""
