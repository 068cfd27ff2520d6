"""The house rules of background work: one way to enqueue, stable names, one retry
policy, and acks_late only where a redelivery is safe."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

from workers import enqueue
from workers.app import app

ROOT = Path(__file__).resolve().parent.parent
ENQUEUE_CALLS = {"send_task", "delay", "apply_async", "signature", "s", "si"}


def _task_names() -> set[str]:
    return {value for name, value in vars(enqueue).items() if name.isupper() and isinstance(value, str)}


def test_every_task_is_named_in_enqueue_and_every_name_has_a_task():
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    ours = {name for name in app.tasks if name.startswith("qianbiao.")}
    assert ours == _task_names()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in ours


def test_acks_late_only_where_a_redelivery_cannot_overlap_a_run():
    app.loader.import_default_modules()
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    late = {name for name, task in app.tasks.items() if name.startswith("qianbiao.") and task.acks_late}
    assert enqueue.RECHECK_QUALITY_METHOD not in late  # an hour's limit
    assert enqueue.DISTRIBUTE_PROJECT in late and enqueue.INGEST_ANNOTATIONS in late
    for name in late:
        assert app.tasks[name].time_limit < visibility, name
    assert not app.conf.task_acks_late  # never global


def test_nothing_but_workers_enqueue_sends_a_message():
    offenders = []
    for folder in ("platform", "workers", "annotation", "seeds"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "workers" / "enqueue.py" or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr in ENQUEUE_CALLS:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert offenders == []


def test_one_retry_policy():
    from workers.app import RETRY

    app.loader.import_default_modules()
    for name in (enqueue.DISTRIBUTE_PROJECT, enqueue.PUSH_ASSIGNMENTS, enqueue.DECIDE_READY_ITEMS):
        task = app.tasks[name]
        assert task.max_retries == RETRY["max_retries"]
        assert tuple(task.autoretry_for) == RETRY["autoretry_for"]
