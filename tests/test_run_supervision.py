"""bin/run supervises what it starts: a Celery worker killed outright is started again
within seconds, and the work enqueued while it was gone is done (Redis keeps the
messages, acks_late redelivers what it held). Also: the first start takes the
dashboards' snapshots and seeds the demo scenario, once."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.test_run_script import REPO, _free_ports, _processes_with, _run_until_up, _stop

pytestmark = pytest.mark.integration


def _pids(var_dir: Path, name: str) -> list[int]:
    return [int(p) for p in re.findall(rf"{name} (?:started|restarted) \(pid (\d+)", _out(var_dir))]


def _out(var_dir: Path) -> str:
    return (var_dir.parent / "run.out").read_text()


def _count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as db:
        return db.execute(sql).fetchone()[0]


NEW_ITEMS_ASSIGNED = """
    SELECT count(DISTINCT i.id) FROM projects_item i JOIN projects_assignment a ON a.item_id = i.id
    WHERE i.external_id ~ '-000(2|3)[0-9]$' AND NOT i.is_gold"""
NEW_ITEMS = "SELECT count(*) FROM projects_item WHERE external_id ~ '-000(2|3)[0-9]$' AND NOT is_gold"


def test_a_killed_worker_is_back_within_10_s_and_no_work_is_lost():
    port, pg_port, redis_port = _free_ports(3)
    outside = Path(tempfile.mkdtemp(prefix="qianbiao-supervise-"))
    outside.chmod(0o711)
    var_dir = outside / "var"
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TERM") if name in os.environ}
    env.update(
        QIANBIAO_PORT=str(port), QIANBIAO_PG_PORT=str(pg_port), QIANBIAO_REDIS_PORT=str(redis_port),
        QIANBIAO_VAR_DIR=str(var_dir), QIANBIAO_SEED_ANNOTATORS="300", QIANBIAO_LABEL_STUDIO="0",
        QIANBIAO_WORKER_CONCURRENCY="1", QIANBIAO_DEMO_ITEMS="20",
        # No sweep in the test's time: only the enqueued messages can distribute the new items.
        QIANBIAO_SWEEP_SECONDS="3600",
    )  # fmt: skip
    dsn = f"postgresql://postgres@127.0.0.1:{pg_port}/qianbiao"
    run = _run_until_up(env, outside / "run.out")
    try:
        text = _out(var_dir)
        assert "back-filling the year" in text and "headcount:" in text, text[-3000:]
        snapshots = _count(dsn, "SELECT count(*) FROM dashboards_headcountsnapshot")
        assert snapshots > 0, "snapshots from the start"
        assert _count(dsn, "SELECT count(*) FROM projects_datasetproject") == 5, "the demo's five projects"
        (worker,) = _pids(var_dir, "worker")
        os.killpg(worker, signal.SIGKILL)  # the worker and its pool, without warning
        killed = time.monotonic()
        # Work enqueued while no worker runs: 20 more items a project, their distribution.
        demo_env = {**env, "DATABASE_URL": dsn, "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
                    "CACHE_URL": f"redis://127.0.0.1:{redis_port}/1"}  # fmt: skip
        subprocess.run(
            [str(REPO / ".venv/bin/python"), "-m", "seeds.demo", "--items", "40", "--no-progress"],
            cwd=REPO, env=demo_env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        log = var_dir / "log" / "worker.log"
        while not re.search(r"\[qianbiao\] restart 1 .*?ready\.", log.read_text(), re.S):
            assert time.monotonic() - killed < 10, f"not back after 10 s:\n{_out(var_dir)[-2000:]}"
            time.sleep(0.2)
        back = time.monotonic() - killed
        assert len(_pids(var_dir, "worker")) == 2 and "worker (pid" in _out(var_dir)
        new = _count(dsn, NEW_ITEMS)
        assert new > 0
        deadline = time.monotonic() + 90
        while _count(dsn, NEW_ITEMS_ASSIGNED) == 0 and time.monotonic() < deadline:
            time.sleep(1)
        assigned = _count(dsn, NEW_ITEMS_ASSIGNED)
        assert assigned > 0, "the distribution enqueued while the worker was dead was done"
        print(f"worker back in {back:.1f} s; {assigned} of {new} new items assigned")
    finally:
        code = _stop(run, str(var_dir))
        shutil.rmtree(outside, ignore_errors=True)
    assert code == 143
    assert _processes_with(f"QIANBIAO_VAR_DIR={var_dir}") == [], "bin/run left processes behind"
