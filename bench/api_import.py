"""Item import through the REST API against PostgreSQL COPY of the same rows.

    python -m bench.api_import [--scale small|full] [--rounds N]

Full scale (the issue's): 1,000,000 items (~250 MB of JSONL); ``--scale small``
is 100,000. On PostgreSQL: DATABASE_URL if set (an empty database we may
migrate), else a throw-away cluster started like bin/test's.

Ours: ``POST /api/v1/projects/{id}/items/`` with the JSONL file as the body
(Content-Length, streamed from disk) to the platform under gunicorn (2 sync
workers, as deployed), authenticated with an API key, into a fresh project; the
answer is awaited, so the time covers HTTP, parsing, every row check, the
duplicate checks and the commit.
Baseline: ``COPY … FROM STDIN`` of the same rows, already in COPY's text format
(no parsing, no checks), streamed from disk by psycopg into an identical copy
of the item table (same columns, indexes, constraints, foreign key).

Rounds alternate which side runs first, each into empty tables; medians are
reported; the last line is one JSON object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.services import ensure_redis, free_port, log, start_postgres, stop_postgres

REPO = Path(__file__).resolve().parent.parent
SCALES = {"small": 100_000, "full": 1_000_000}
BASELINE_TABLE = "bench_item_baseline"


# --- services (as bin/test starts them) ----------------------------------------


def bench_environment(database_url: str, **extra: str) -> dict[str, str]:
    """What the bench process and its gunicorn share: one database, throw-away secrets."""
    env = {
        "DATABASE_URL": database_url,
        "QIANBIAO_ENV": "bench",
        "SECRET_KEY": base64.b64encode(os.urandom(24)).decode(),
        "PII_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "PII_LOOKUP_KEY": base64.b64encode(os.urandom(32)).decode(),
        "LABEL_STUDIO_WEBHOOK_SECRET": base64.b64encode(os.urandom(24)).decode(),
        "QIANBIAO_VAR_DIR": tempfile.mkdtemp(prefix="qianbiao-bench-"),
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "qianbiao.settings",
    }
    for key, value in env.items():
        os.environ.setdefault(key, value)
    os.environ.update(extra)  # the bench's own settings always win
    return {key: os.environ[key] for key in (*env, *extra)}


def setup_django() -> None:
    ensure_redis()
    for path in (str(REPO / "platform"), str(REPO)):
        if path not in sys.path:
            sys.path.append(path)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Gunicorn:
    """The platform under gunicorn on a free loopback port, as deployed: sync workers."""

    def __init__(
        self, env: dict[str, str], *, app: str = "qianbiao.wsgi:application", workers: int = 2, extra=()
    ):
        self.port = free_port(58300)
        self.argv = [
            str(REPO / ".venv" / "bin" / "gunicorn"),
            app,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--timeout",
            "1200",
            "--log-level",
            "warning",
            *extra,
        ]
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=REPO, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited while starting")
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /health")

    def worker_peak_rss_mb(self) -> float:
        """Largest VmHWM among the workers (children of the master)."""
        peak = 0
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        for pid in children.read_text().split() if children.exists() else []:
            for row in Path(f"/proc/{pid}/status").read_text().splitlines():
                if row.startswith("VmHWM:"):
                    peak = max(peak, int(row.split()[1]))
        return round(peak / 1024, 1)

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# --- data ----------------------------------------------------------------------


def row_data(k: int) -> dict:
    return {
        "image": f"https://img.example.cn/guizhou/{k % 97}/{k:09d}.jpg",
        "caption": "贵阳市花溪区，十字路口，晴天",
        "camera": "front",
        "frame": k,
    }


def write_files(directory: Path, n: int, baseline_project_id: int) -> tuple[Path, Path]:
    """The same n rows as JSONL (ours) and as COPY text (the baseline)."""
    jsonl, copy_text = directory / "items.jsonl", directory / "items.copy"
    now = dt.datetime.now(dt.UTC).isoformat()
    with jsonl.open("w", encoding="utf-8") as j, copy_text.open("w", encoding="utf-8") as c:
        for k in range(n):
            data = json.dumps(row_data(k), ensure_ascii=False)
            gold = k % 50 == 0
            row = {"external_id": f"frame-{k:09d}", "data": row_data(k)}
            answer = "\\N"
            if gold:
                row.update(is_gold=True, gold_answer={"label": "car"})
                answer = json.dumps({"label": "car"})
            j.write(json.dumps(row, ensure_ascii=False) + "\n")
            c.write(
                f"{baseline_project_id}\tframe-{k:09d}\t{data.replace(chr(92), chr(92) * 2)}\t"
                f"{'t' if gold else 'f'}\t{answer}\tpending\t{now}\n"
            )
    return jsonl, copy_text


def baseline_table_create() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {BASELINE_TABLE}")
        cursor.execute(f"CREATE TABLE {BASELINE_TABLE} (LIKE projects_item INCLUDING ALL)")
        cursor.execute(
            f"ALTER TABLE {BASELINE_TABLE} ADD FOREIGN KEY (project_id) "
            "REFERENCES projects_datasetproject (id) DEFERRABLE INITIALLY DEFERRED"
        )


def tables_reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {BASELINE_TABLE}")
        cursor.execute("TRUNCATE projects_item CASCADE")
        cursor.execute("CHECKPOINT")  # each side starts without the other's dirty pages


# --- the two sides ---------------------------------------------------------------


def run_baseline(copy_text: Path) -> float:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        columns = "project_id, external_id, data, is_gold, gold_answer, state, created_at"
        with (
            copy_text.open("rb") as source,
            cursor.cursor.copy(f"COPY {BASELINE_TABLE} ({columns}) FROM STDIN") as copy,
        ):
            while block := source.read(1 << 20):
                copy.write(block)
    return time.perf_counter() - started


def run_ours(port: int, key: str, project_id: int, jsonl: Path, expected: int) -> float:
    size = jsonl.stat().st_size
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1800, blocksize=1 << 20)
    with jsonl.open("rb") as body:
        connection.request(
            "POST",
            f"/api/v1/projects/{project_id}/items/",
            body=body,
            headers={
                "Authorization": f"Token {key}",
                "Content-Type": "application/x-ndjson",
                "Content-Length": str(size),
                "Idempotency-Key": f"bench-{project_id}",
            },
        )
        response = connection.getresponse()
        payload = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 201 or json.loads(payload)["imported"] != expected:
        raise RuntimeError(f"import failed: {response.status} {payload[:500]!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=SCALES, default="full")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = SCALES[args.scale]

    data_dir = None
    work = Path(tempfile.mkdtemp(prefix="qianbiao-bench-import-"))
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        database_url, data_dir = start_postgres()
        log(f"PostgreSQL at {database_url}")
    env = bench_environment(
        database_url,
        API_MAX_UPLOAD_BYTES=str(1 << 30),
        API_IMPORT_THROTTLE_RATE="100000/min",
        CONN_MAX_AGE="60",
    )
    try:
        setup_django()
        from qianbiao.api.keys import api_key_issue
        from qianbiao.enterprises.models import Enterprise, EnterpriseRole
        from qianbiao.projects.models import DatasetProject
        from seeds.identity import synthetic_credit_code

        client = Enterprise.objects.create(
            name="基准客户（导入）", credit_code=synthetic_credit_code(897_001), role=EnterpriseRole.CLIENT
        )
        key = api_key_issue(enterprise=client, name="bench").plaintext
        baseline_table_create()

        def project(name: str) -> DatasetProject:
            return DatasetProject.objects.create(
                client=client,
                name=name,
                domain="autonomous_driving",
                task_type="bounding_box",
                label_config='<View><Image name="image" value="$image"/></View>',
            )

        baseline_project = project("bench import baseline")
        log(f"writing {n:,} rows as JSONL and as COPY text")
        jsonl, copy_text = write_files(work, n, baseline_project.pk)
        log(f"JSONL {jsonl.stat().st_size / 1e6:.0f} MB, COPY text {copy_text.stat().st_size / 1e6:.0f} MB")

        ours, baseline = [], []
        with Gunicorn(env) as server:
            for round_no in range(args.rounds):
                tables_reset()
                ours_project = project(f"bench import {round_no}")
                sides = ["baseline", "ours"] if round_no % 2 == 0 else ["ours", "baseline"]
                for side in sides:
                    if side == "baseline":
                        baseline.append(run_baseline(copy_text))
                    else:
                        ours.append(run_ours(server.port, key, ours_project.pk, jsonl, n))
                log(
                    f"round {round_no + 1}: ours {ours[-1]:.2f} s ({n / ours[-1]:,.0f} rows/s), "
                    f"COPY {baseline[-1]:.2f} s ({n / baseline[-1]:,.0f} rows/s)"
                )
            peak = server.worker_peak_rss_mb()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if data_dir:
            stop_postgres(data_dir)

    ours_s, baseline_s = statistics.median(ours), statistics.median(baseline)
    ratio = (n / ours_s) / (n / baseline_s)
    print(
        json.dumps(
            {
                "bench": "api_import",
                "scale": args.scale,
                "rows": n,
                "ours_s": round(ours_s, 2),
                "baseline_s": round(baseline_s, 2),
                "ours_rows_per_s": round(n / ours_s),
                "baseline_rows_per_s": round(n / baseline_s),
                "ratio": round(ratio, 3),
                "goal": "ours rows/s >= 0.5 x COPY rows/s",
                "met": ratio >= 0.5,
                "peak_rss_mb": peak,
            }
        )
    )


if __name__ == "__main__":
    main()
