"""Flows: ``@step``/``@flow``, parameters, graph building and validation. Never executes anything.

A guide in one screen::

    from shipyard import flow, step
    from shipyard.flows import pick, unless, when

    @step(retries=2, retry_delay=1.0, timeout=600, cache=True, resources={"cpu": 2, "memory": "4GB"})
    def train(config: dict, data: np.ndarray) -> dict: ...

    @flow
    def search(cs: list[float] = [0.1, 1.0], quick: bool = False):   # typed params, -p cs=[0.1,1]
        data = load()                          # a step call returns a reference; nothing runs yet
        results = train.map(grid(cs), data=data)   # fan-out: one task per item, known at run time
        nested = score.map(results)            # map over a mapped output: each item must be a list
        best = pick_best(results)              # join: receives the list of outputs, in order
        if quick:                              # plain `if` on params (concrete while building)
            return best
        good = is_good(best)                   # a step returning a bool
        with when(good):                       # branch on data: skipped tasks get status SKIPPED
            shipped = deploy(best)
        with unless(good):
            alerted = alert(best)
        return pick(shipped, alerted)          # the output of whichever branch ran

Three more shapes (inside a flow; ``from shipyard.flows import loop``)::

    inner = inc.map(chunk.map(xs))             # nested fan-out: inc[i][j]
    sums = subtotal.join(inner)                # a join per outer item: subtotal[i] gets inner[i]
    even = is_even.map(xs)
    with when(even):                           # a condition per item: triple[i] runs where even[i]
        tripled = triple.map(xs)
    final = loop(halve, x, until=small, max_iterations=20)   # halve@1, small@1, halve@2, ...

- Building (``search.build(params)``) calls the function with concrete params; it validates the
  graph before anything runs: missing inputs, cycles, types visible from annotations, maps over
  non-lists, steps inside ``when(mapped)`` not mapped over its items, loop bounds and state types.
  A step called outside a flow is a plain function call (unit tests).
- Running: ``shipyard run file.py -p k=v`` or ``search.run(cs=[1.0])`` (see :mod:`shipyard.runtime`).
  Every step output is a content-addressed artifact with lineage; ``shipyard resume RUN_ID`` reruns
  what failed and what is downstream of it; ``cache=True`` reuses an identical earlier task
  (same step source, input digests and constants).

What starts a flow besides a user (``shipyard schedule run FILE``; see :mod:`shipyard.flows.schedule`)::

    @flow(schedule="0 * * * *", trigger=on_dataset("transactions") | on_model("churn", alias="champion"))
    def retrain(days: int = 30): ...          # started with the parameters' defaults

Public API: :func:`flow`, :func:`step`, :func:`when`, :func:`unless`, :func:`pick`, :func:`loop`,
:func:`on_dataset`, :func:`on_model`, :func:`on_model_version`, :func:`schedule_spec`,
:class:`Flow`, :class:`Step`, :class:`Graph`, :class:`Node`, :class:`Ref`, :class:`Resources`.
"""

from shipyard.flows.build import loop, pick, unless, when
from shipyard.flows.decorators import Flow, Resources, Step, flow, step
from shipyard.flows.graph import Graph, Node, Ref
from shipyard.flows.schedule import schedule_spec
from shipyard.flows.triggers import on_dataset, on_model, on_model_version

__all__ = [
    "Flow",
    "Graph",
    "Node",
    "Ref",
    "Resources",
    "Step",
    "flow",
    "loop",
    "on_dataset",
    "on_model",
    "on_model_version",
    "pick",
    "schedule_spec",
    "step",
    "unless",
    "when",
]
