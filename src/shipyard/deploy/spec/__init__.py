"""``shipyard.yaml``: the typed model (:mod:`.models`), the located loader (:mod:`.load`) and the
rules that span objects (:mod:`.rules`)."""
