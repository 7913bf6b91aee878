"""Tracking: runs, params, metrics, tags and artifacts from user code.

- :mod:`shipyard.tracking.client`: :class:`TrackingClient`, explicit stores, no process state.
- :mod:`shipyard.tracking.fluent`: the module-level API re-exported by ``shipyard``
  (``start_run``, ``log_metric``...), which keeps the active run and one cached :class:`Stores`.
- :mod:`shipyard.tracking.batching`: metric points are buffered and written off the caller's thread.
- :mod:`shipyard.tracking.heartbeat`: running runs prove they are alive; dead ones are failed.
"""
