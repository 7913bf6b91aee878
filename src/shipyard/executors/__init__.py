"""Executors: where tasks run (local processes; Ray later). See :mod:`shipyard.executors.base`."""
