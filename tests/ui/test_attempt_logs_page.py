"""The task logs page of a retried task: its attempts, each one's logs and error by ``?attempt=N``."""

from __future__ import annotations

from shipyard.artifacts.store import StoredObject
from shipyard.core.clock import utcnow
from shipyard.core.entities import RunCreate, Task, TaskStatus
from shipyard.core.ids import new_id
from tests.ui.conftest import UiApp
from tests.ui.live import LiveServer


def test_a_retried_tasks_attempts_are_listed_and_each_shows_its_own_logs(
    live: LiveServer, ui_app: UiApp
) -> None:
    stores = ui_app.seeded.stores
    md = stores.metadata
    run = md.create_run(
        RunCreate(id=new_id(), name="retried", namespace=stores.settings.user_namespace, user="alice",
                  start_time=utcnow())
    )  # fmt: skip
    task = Task(id=new_id(), run_id=run.id, step="fit", key="fit")
    md.create_tasks([task])
    for attempt, status in ((1, TaskStatus.FAILED), (2, TaskStatus.SUCCEEDED)):
        md.update_task(task.id, status=TaskStatus.RUNNING, attempts=attempt)
        text = f"output of attempt {attempt}\n".encode()
        stored = StoredObject(stores.artifacts.put_bytes(text), len(text), "bytes")
        md.record_artifact(stored.record(run.id, "logs/stdout", task_id=task.id))
        md.update_task(task.id, status=status, error="OOM on attempt 1" if attempt == 1 else None)
    page = f"/ui/runs/{run.id}/tasks/{task.id}/logs"

    html = live.get(page, ui_app.token).text
    assert "output of attempt 2" in html and "output of attempt 1" not in html
    assert 'href="?attempt=1"' in html and "OOM on attempt 1" not in html
    first = live.get(page + "?attempt=1", ui_app.token)
    assert first.status == 200
    assert "output of attempt 1" in first.text and "OOM on attempt 1" in first.text
    assert live.get(page + "?attempt=7", ui_app.token).status == 404
    assert live.get(page + "?attempt=x", ui_app.token).status == 400
