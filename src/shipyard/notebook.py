"""shipyard in Jupyter: ``shipyard.notebook.show(obj)`` displays a run (with its metric charts), a
flow run, a model or dataset version, a drift report or a card as rich HTML.

Every SDK record also displays itself (``_repr_html_``), escaped; ``show`` adds what needs the
stores (a tracked run's metric histories). Outside IPython it returns the HTML instead of
displaying it. ``flow.run()`` in a notebook shows a live table of its tasks
(:class:`shipyard.runtime.reprs.NotebookProgress`).
"""

from __future__ import annotations

from typing import Any

from shipyard.core.errors import InvalidInputError


def html(obj: Any) -> str:
    """The rich HTML of ``obj``: a tracked run with its metric charts, else its ``_repr_html_``."""
    from shipyard.core.entities import Run

    if isinstance(obj, Run):
        from shipyard.cards.metric_charts import metric_charts
        from shipyard.core.html import section
        from shipyard.core.reprs import run_html
        from shipyard.tracking.fluent import get_stores

        return run_html(obj, section("Metrics", metric_charts(get_stores().metadata, obj)))
    render = getattr(obj, "_repr_html_", None)
    if not callable(render):
        raise InvalidInputError(
            f"shipyard.notebook.show takes a run, flow run, model or dataset version, drift report or "
            f"card, not a {type(obj).__name__}"
        )
    return str(render())


def show(obj: Any) -> str | None:
    """Display ``obj`` in the notebook (IPython); elsewhere return its HTML."""
    from shipyard.runtime.reprs import in_notebook

    page = html(obj)
    if not in_notebook():
        return page
    from IPython.display import HTML, display

    display(HTML(page))  # type: ignore[no-untyped-call]
    return None
