"""Cards: reports built inside a step (markdown, tables, charts, images), stored with the task and
shown live in the UI; see :mod:`shipyard.cards.model` and :mod:`shipyard.cards.render`."""
