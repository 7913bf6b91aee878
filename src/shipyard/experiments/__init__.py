"""A/B experiments against production: the analysis (``stats``, ``analysis``: pure numpy), the
experiment as data (``spec``), assignment (``assign``), reading the prediction log and outcomes
(``data``), guardrails and the promotion gates (``gates``)."""
