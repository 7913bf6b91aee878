"""Delivery: the project spec (``shipyard.yaml``, :mod:`.spec`), plan (:mod:`.plan`, with the
policy verdicts of :mod:`.verdicts` on the stores' facts of :mod:`.facts`), apply and rollback
(:mod:`.apply`); (to come) sync and renderers."""
