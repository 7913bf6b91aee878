"""Delivery: the project spec (``shipyard.yaml``), and (to come) plan, apply, sync and renderers."""
