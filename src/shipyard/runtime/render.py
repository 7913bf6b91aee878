"""Terminal views of flows: live progress per step while a run executes, and the DAG of a run
(``shipyard runs show RUN_ID --graph``)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from shipyard.core.entities import Run, Task, TaskStatus
from shipyard.core.errors import FlowError
from shipyard.flows.graph import Graph

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from shipyard.runtime.plan import RunPlan

_STYLE = {
    "succeeded": "green",
    "cached": "cyan",
    "reused": "cyan",
    "skipped": "dim",
    "failed": "red",
    "running": "yellow",
    "pending": "white",
    "cancelled": "magenta",
}


def step_counts(plan: RunPlan) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {
        name: Counter() for name, ns in plan.nodes.items() if ns.node.kind == "step"
    }
    for name, ns in plan.nodes.items():
        if name in counts:
            counts[name].update({k: v for k, v in ns.counts.items() if v > 0 and k != "pending"})
    for slot in plan.slots.values():
        if slot.status in (TaskStatus.PENDING, TaskStatus.RUNNING):
            counts[slot.node][slot.status.value] += 1
    return counts


class ProgressView:
    """A live table (tasks done/running/failed per step) refreshed by the scheduler's callback."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self._live: Live | None = None

    def __enter__(self) -> ProgressView:
        from rich.live import Live

        self._live = Live(console=self.console, auto_refresh=False, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def __call__(self, plan: RunPlan) -> None:
        if self._live is not None:
            self._live.update(self.table(plan), refresh=True)

    def table(self, plan: RunPlan) -> RenderableType:
        from rich.table import Table

        table = Table(title=self.title, title_justify="left", box=None, pad_edge=False)
        for col in ("step", "done", "running", "failed", "other"):
            table.add_column(col, justify="left" if col == "step" else "right")
        for step, c in step_counts(plan).items():
            done = c["succeeded"] + c["cached"] + c["reused"]
            other = ", ".join(
                f"{c[k]} {k}" for k in ("pending", "skipped", "cancelled", "cached", "reused") if c[k]
            )
            table.add_row(
                step,
                f"[green]{done}[/green]",
                f"[yellow]{c['running']}[/yellow]" if c["running"] else "0",
                f"[red]{c['failed']}[/red]" if c["failed"] else "0",
                other,
            )
        return table


def _levels(graph: Graph) -> dict[str, int]:
    level: dict[str, int] = {}
    for name in graph.topological_order():
        ups = graph.nodes[name].upstream
        level[name] = 1 + max((level[u] for u in ups), default=-1)
    return level


def render_graph(graph_spec: dict[str, Any], tasks: list[Task]) -> str:
    """The DAG as Rich markup text: one line per node, indented by depth, with task statuses.
    Names come from a stored spec, so they are escaped: a name is never read as markup."""
    from rich.markup import escape

    graph = Graph.from_dict(graph_spec)
    by_step: dict[str, Counter[str]] = {}
    for task in tasks:
        by_step.setdefault(task.step, Counter())[task.status.value] += 1
    level = _levels(graph)
    lines = []
    for name in sorted(graph.nodes, key=lambda n: (level[n], list(graph.nodes).index(n))):
        node = graph.nodes[name]
        indent = "    " * level[name]
        arrow = "└─▶ " if level[name] else ""
        shape = "◆" if node.kind == "pick" else ("▦" if node.depth else "●")
        fan = f" [dim]map{'*' * node.depth}[/dim]" if node.depth else ""
        if node.join_arg:
            fan += " [dim]join per item[/dim]"
        if node.loop is not None:
            fan += f" [dim]loop until {escape(node.loop.until)} (max {node.loop.max_iterations})[/dim]"
        counts = by_step.get(name, Counter())
        status = ", ".join(f"[{_STYLE.get(k, 'white')}]{v} {k}[/]" for k, v in sorted(counts.items()))
        ups = [u for u in node.upstream]
        guard = "".join(f" [dim]if {'' if g.expect else 'not '}{escape(g.node)}[/dim]" for g in node.guards)
        frm = f" [dim]← {escape(', '.join(ups))}[/dim]" if ups else ""
        lines.append(
            f"{indent}{arrow}{shape} [bold]{escape(name)}[/bold]{fan}{guard}{frm}  {status}".rstrip()
        )
    if graph.output is not None:
        lines.append(f"[dim]output ← {escape(str(getattr(graph.output, 'node', 'constant')))}[/dim]")
    return "\n".join(lines)


def render_run_graph(run: Run, tasks: list[Task]) -> str:
    """``runs show --graph``: the DAG of a flow run; FlowError for a run that is not a flow run."""
    graph = (run.flow_spec or {}).get("graph")
    if not graph:
        raise FlowError(f"run {run.id} is not a flow run; it has no graph to draw")
    style = _STYLE.get(run.status.value, "white")
    from rich.markup import escape

    title = f"[bold]{escape(str(run.flow_name))}[/bold] run {escape(run.id)} [{style}]{run.status.value}[/]"
    return title + "\n" + render_graph(graph, tasks)
