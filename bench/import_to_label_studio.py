"""From an enterprise's item import to the first Label Studio task, through the running
system, against importing the same tasks straight into Label Studio.

    python -m bench.import_to_label_studio [--scale small|full] [--imports N]

Everything runs as deployed, each in its own process: the platform under gunicorn, a
real Celery worker (``-Q distribution,maintenance``, no beat: beat's sweep would push
within its period anyway, and what is measured here is the path that does not wait for
it), Redis as the broker, PostgreSQL, and Label Studio under gunicorn
(``annotation.server``).

Ours, per import: ``POST /api/v1/projects/{id}/items/`` of 5 JSONL items (the clock
starts before the request) until every one of those items has an assignment recorded
as pushed (``ls_task_id`` set: Label Studio has answered the import with the task's
id, so the task is visible there). That covers the API import, the distribution
message enqueued on commit, distribution, the push message enqueued by distribution,
the push (the first one also creates the Label Studio project, its webhook and the
annotators' accounts) and recording the task ids.
Baseline, per import: ``annotation.tasks.import_tasks`` of 5 tasks of the same data
straight into a Label Studio project: the least any path to a visible task costs.

Imports alternate with baseline imports, one second apart; p50 and p95 of each are
reported. Goal (issue 11): our p50 under 5 s. The last line is one JSON object
(see /work/shared/BENCH.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.api_import import Gunicorn, bench_environment, setup_django
from bench.services import (
    BENCH_WEBHOOK_ORIGIN,
    label_studio_secret,
    log,
    start_postgres,
    start_redis,
    stop_postgres,
    stop_redis,
)

REPO = Path(__file__).resolve().parent.parent
SCALES = {"small": 5, "full": 20}
ITEMS_PER_IMPORT = 5
TIMEOUT_S = 120.0


def _worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", "distribution,maintenance"]
    argv += ["-c", "2", "-l", "INFO", "--without-gossip", "--without-mingle", "-n", "bench@%h"]
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            argv,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _post_items(port: int, key: str, project_id: int, external_ids: list[str]) -> None:
    body = "".join(
        json.dumps(
            {"external_id": e, "data": {"text": f"{e}：黔东南州苗族刺绣样例文本。"}}, ensure_ascii=False
        )
        + "\n"
        for e in external_ids
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/projects/{project_id}/items/",
        data=body,
        method="POST",
        headers={"Authorization": f"Token {key}", "Content-Type": "application/x-ndjson"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 201, response.status


def _pushed(project_id: int, external_ids: list[str]) -> bool:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(DISTINCT i.id) FROM projects_item i JOIN projects_assignment a ON a.item_id = i.id "
            "WHERE i.project_id = %s AND i.external_id = ANY(%s) AND a.ls_task_id IS NOT NULL",
            [project_id, external_ids],
        )
        return cur.fetchone()[0] == len(external_ids)


def _ours(port: int, key: str, project_id: int, n: int) -> float:
    external_ids = [f"imp{n}-{k}" for k in range(ITEMS_PER_IMPORT)]
    started = time.perf_counter()
    _post_items(port, key, project_id, external_ids)
    while not _pushed(project_id, external_ids):
        if time.perf_counter() - started > TIMEOUT_S:
            raise TimeoutError(f"import {n}: no Label Studio task after {TIMEOUT_S:.0f} s")
        time.sleep(0.02)
    return time.perf_counter() - started


def _baseline(admin, ls_project_id: int, n: int) -> float:
    from annotation.tasks import import_tasks

    data = [
        {"text": f"base{n}-{k}：黔东南州苗族刺绣样例文本。", "external_id": f"base{n}-{k}"} for k in range(5)
    ]
    started = time.perf_counter()
    import_tasks(admin, ls_project_id, data)
    return time.perf_counter() - started


def _world(config: str, annotators: int):
    from qianbiao.api.keys import api_key_issue
    from qianbiao.programme.models import Grade
    from qianbiao.workforce.services import SkillSpec
    from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory

    project = DatasetProjectFactory(
        task_type="text_classification", label_config=config, overlap=1, open_cap=10_000
    )
    facility = FacilityFactory(grade=Grade.L3)
    for _ in range(annotators):
        AnnotatorFactory(facility=facility, skills=(SkillSpec("text_classification", 3),))
    return project, api_key_issue(enterprise=project.client, name="bench").plaintext


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--imports", type=int, default=None)
    args = parser.parse_args(argv)
    imports = args.imports or SCALES[args.scale]

    from annotation import server

    label_studio_secret()

    pg_url, pg_dir = start_postgres()
    redis_url, redis_dir = start_redis()
    server.ensure_template()
    ls = server.server_from_template(
        server.free_port(58100, 58199), Path(tempfile.mkdtemp()) / "data"
    ).start()
    work = Path(tempfile.mkdtemp(prefix="qianbiao-bench-i2ls-"))
    processes: list[subprocess.Popen] = []
    try:
        env = bench_environment(
            pg_url,
            CELERY_BROKER_URL=redis_url.rsplit("/", 1)[0] + "/0",
            CACHE_URL=redis_url.rsplit("/", 1)[0] + "/1",
            LABEL_STUDIO_URL=ls.url,
            LABEL_STUDIO_API_KEY=ls.token,
            API_IMPORT_THROTTLE_RATE="100000/min",
        )
        setup_django()
        from annotation.client import connect
        from annotation.label_configs import text_classification
        from annotation.projects import create_project

        config = text_classification(["正面", "负面"]).xml
        project, key = _world(config, annotators=5)
        web = Gunicorn(env)
        # No webhook is needed for what is timed: Label Studio's go to a closed port.
        web.env["LABEL_STUDIO_WEBHOOK_URL"] = f"{BENCH_WEBHOOK_ORIGIN}/hooks/label-studio/"
        ours: list[float] = []
        base: list[float] = []
        with web, connect(ls.url, ls.token, timeout=120) as admin:
            processes.append(
                _worker(
                    {**env, "LABEL_STUDIO_WEBHOOK_URL": web.env["LABEL_STUDIO_WEBHOOK_URL"]},
                    work / "worker.log",
                )
            )
            time.sleep(5)  # the worker's start-up, not part of any import
            baseline_project = create_project(admin, "bench baseline", config, maximum_annotations=1).id
            for n in range(imports):
                ours.append(_ours(web.port, key, project.pk, n))
                time.sleep(1)
                base.append(_baseline(admin, baseline_project, n))
                log(f"import {n + 1}/{imports}: ours {ours[-1]:.2f} s, Label Studio alone {base[-1]:.3f} s")
                time.sleep(1)
    finally:
        for process in processes:
            _stop(process)
        ls.stop()
        stop_redis(redis_dir)
        stop_postgres(pg_dir)
    ours_p50, base_p50 = statistics.median(ours), statistics.median(base)
    result = {
        "bench": "import_to_label_studio",
        "scale": args.scale,
        "imports": imports,
        "items_per_import": ITEMS_PER_IMPORT,
        "ours_p50_s": round(ours_p50, 3),
        "ours_p95_s": round(_p(ours, 0.95), 3),
        "first_import_s": round(ours[0], 3),
        "baseline_p50_s": round(base_p50, 3),
        "ratio": round(ours_p50 / base_p50, 2),
        "goal": "ours p50 < 5 s",
        "met": ours_p50 < 5,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
