"""Importers: bring another platform's history into shipyard through shipyard's own tracking,
registry and artifact APIs (so an import works against the local stores and a server alike).

Today one: :mod:`shipyard.importers.mlflow_import` (``shipyard import mlflow --from URI``).
"""
