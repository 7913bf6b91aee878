"""Model registry: model packages, registered models, versions, aliases, approval, cards, lineage.

Modules (each small; heavy libraries are imported inside functions):

- ``signature``: infer a signature from an input example; enforce it before every predict
  (missing/extra column or wrong type -> ``SignatureError`` naming the column; safe casts listed
  in its module doc).
- ``flavors/``: how a model family is saved and loaded: scikit-learn via skops, XGBoost JSON,
  LightGBM text, PyTorch state_dict in safetensors + class path, and a cloudpickle fallback for
  any object with ``predict`` (the only pickle-based flavor: marked ``unsafe``, refused on load
  unless ``allow_unsafe=True``). Loading checks every class a package names against the flavor's
  exact allow-list plus the caller's ``trusted`` names before importing anything.
- ``package``: the package folder (model files, ``model.yaml`` with flavor, signature, Python
  and library versions, source run/task and per-file sha256, the input example); stored as one
  ``dir`` artifact whose digest is the package hash, marked ``meta["model_package"]``.
- ``predictor``: ``LoadedModel``, the one predictor interface (``predict``, ``predict_proba``
  where the flavor has it, ``signature``, ``version``, ``metadata``); packages load from memory
  after the artifact store verified the blob's sha256 and the files' recorded hashes.
- ``uri``: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``models:/NAME/latest``,
  ``runs:/RUN_ID/ARTIFACT``; alias names start with a letter (letters, digits, ``_``, ``-``).
- ``lineage``: what fed a version: the source task's inputs, then transitively what the tasks
  producing them consumed (``metadata.task_inputs``), recorded at registration.
- ``service``: ``ModelRegistry`` over ``Stores`` + a ``RegistryStore``
  (``metadata/model_registry.py``; SQL tables in ``metadata/sql/model_registry_*.py``, Alembic
  revision ``0002_registry``).
- ``card``: model cards as data and Markdown; ``api``: ``log_model`` / ``register_model`` /
  ``load_model`` (re-exported from ``shipyard``).

Rules: version numbers are per model, race-free and never reused; ``@champion`` is protected on
every new model (only approved versions may carry it; ``shipyard models protect`` marks others);
alias moves are recorded with who and when; a version an alias points at cannot be deleted.
"""
