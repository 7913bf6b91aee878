"""Datasets: content-addressed, versioned snapshots of tables and folders (see ``service.py``).

``shipyard.log_dataset`` / ``shipyard.load_dataset`` (``api.py``) and ``shipyard data ...``
(``cli/data.py``) are thin layers over :class:`~shipyard.data.service.DatasetService`.
"""
