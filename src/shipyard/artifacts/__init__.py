"""Artifacts: content-addressed blobs over byte backends, and serializers chosen by type."""
