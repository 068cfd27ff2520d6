"""Dashboard benchmark: the headcount dashboard's server time against a trivial page.

    python -m bench.dashboard [--scale small|full] [--loads N]

Full scale (the issue's): the Guizhou reference data, 20,000 synthetic annotators
(``seeds.workforce.generate_workforce``), a year of daily snapshots back-filled
from their employment history, and 10,000,000 assignments in PostgreSQL
(generated set-based with ``generate_series``). ``--scale small``: 2,000
annotators, 100,000 assignments. On PostgreSQL: DATABASE_URL if set (an empty
database we may migrate), else a throw-away cluster started like bin/test's.

Ours: ``GET /dashboards/`` — the province page with its KPIs, trend, prefecture
map and tables, parks, grade/skill/language breakdowns and every facility.
Baseline: ``GET /dashboards/about/`` — the same login, role check, middleware
and layout with no figures: what any page of the site costs.

Both are requested in-process through Django's test client as a logged-in
project manager (DEBUG off), alternating one of each, after a warm-up; the
time is the server's (request in, response rendered), no network. The work and
programme pages are timed too, for information. The last line is one JSON
object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.services import ensure_redis, log, start_postgres, stop_postgres

REPO = Path(__file__).resolve().parent.parent


# --- services (as bin/test starts them) ---------------------------------------


def setup_django(database_url: str) -> None:
    """Settings from throw-away secrets for this run only, then migrate."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("QIANBIAO_ENV", "bench")
    for name in ("SECRET_KEY", "PII_LOOKUP_KEY", "LABEL_STUDIO_WEBHOOK_SECRET"):
        os.environ.setdefault(name, base64.b64encode(os.urandom(24)).decode())
    os.environ.setdefault("PII_ENCRYPTION_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())
    os.environ.setdefault("QIANBIAO_VAR_DIR", tempfile.mkdtemp(prefix="qianbiao-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The test client's host; DEBUG stays off (it would keep every query in memory).
    os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
    ensure_redis()
    for path in (str(REPO / "platform"), str(REPO)):
        if path not in sys.path:
            sys.path.append(path)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qianbiao.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


SCALES = {
    "small": {"annotators": 2_000, "assignments": 100_000},
    "full": {"annotators": 20_000, "assignments": 10_000_000},
}
OVERLAP = 3
CHUNK_ITEMS = 500_000
GOAL_P95_S = 0.100
GOAL_RATIO = 3.0


def build_world(*, annotators: int, assignments: int) -> dict[str, float]:
    """Reference data, workforce, assignments, a year of snapshots; returns timings."""
    from django.db import connection
    from django.utils import timezone

    from qianbiao.dashboards.snapshots import headcount_snapshots_take, work_snapshots_take
    from qianbiao.enterprises.models import Enterprise
    from qianbiao.projects.models import Assignment, DatasetProject, Item
    from qianbiao.workforce.models import Annotator
    from seeds.guizhou import load_reference_data
    from seeds.workforce import generate_workforce

    timings: dict[str, float] = {}
    started = time.perf_counter()
    load_reference_data()
    log(f"generating {annotators:,} annotators")
    generate_workforce(annotators=annotators, progress=False)
    timings["workforce_s"] = time.perf_counter() - started

    started = time.perf_counter()
    client = Enterprise.objects.order_by("pk").first()
    project = DatasetProject.objects.create(
        client=client,
        name="基准：车辆框选",
        domain="autonomous_driving",
        task_type="bounding_box",
        label_config='<View><Image name="image" value="$image"/></View>',
        overlap=OVERLAP,
        gold_ratio=0,
    )
    n_items = -(-assignments // OVERLAP)
    items, table = Item._meta.db_table, Assignment._meta.db_table
    with connection.cursor() as cursor:
        # Annotators numbered 0..n-1 so that generate_series can deal items to them.
        cursor.execute(
            f"CREATE TEMP TABLE bench_people AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, id "
            f"FROM {Annotator._meta.db_table}"
        )
        cursor.execute("CREATE UNIQUE INDEX ON bench_people (k)")
        people = Annotator.objects.count()
        log(f"inserting {n_items:,} items and {assignments:,} assignments")
        for first in range(1, n_items + 1, CHUNK_ITEMS):
            last = min(first + CHUNK_ITEMS - 1, n_items)
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {items}")
            (before,) = cursor.fetchone()
            cursor.execute(
                f"INSERT INTO {items} (project_id, external_id, data, is_gold, state, created_at) "
                "SELECT %s, 'img-' || g, jsonb_build_object('image', '/cam/' || g || '.jpg'), false, "
                "'annotated', now() FROM generate_series(%s, %s) AS g",
                [project.pk, first, last],
            )
            # Three distinct annotators per item (slots 0..2), dealt round-robin;
            # one in twenty still open, the rest submitted, spread over a year.
            cursor.execute(
                f"INSERT INTO {table} (project_id, item_id, annotator_id, slot, is_gold, state, "
                "load_at_decision, assigned_at, expires_at, submitted_at, end_reason) "
                "SELECT i.project_id, i.id, p.id, s.slot, false, "
                "CASE WHEN (i.id + s.slot) %% 20 = 0 THEN 'open' ELSE 'submitted' END, 0, "
                "now() - ((i.id %% 365) || ' days')::interval, now() + interval '1 day', "
                "CASE WHEN (i.id + s.slot) %% 20 = 0 THEN NULL ELSE now() END, '' "
                f"FROM {items} i CROSS JOIN generate_series(0, %s) AS s(slot) "
                "JOIN bench_people p ON p.k = (i.id * %s + s.slot) %% %s "
                "WHERE i.project_id = %s AND i.id > %s",
                [OVERLAP - 1, OVERLAP, people, project.pk, before],
            )
            log(f"  {min(last * OVERLAP, assignments):,} assignments")
        cursor.execute(f"ANALYZE {items}")
        cursor.execute(f"ANALYZE {table}")
    timings["assignments_s"] = time.perf_counter() - started

    today = timezone.localdate()
    started = time.perf_counter()
    rows = headcount_snapshots_take(first_day=today - dt.timedelta(days=365), last_day=today)
    work_snapshots_take(first_day=today - dt.timedelta(days=365), last_day=today)
    timings["backfill_s"] = time.perf_counter() - started
    timings["snapshot_rows"] = rows
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(f"back-filled {rows:,} headcount snapshot rows for 366 days in {timings['backfill_s']:.1f}s")
    return timings


def measure(loads: int) -> dict[str, dict[str, float]]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from qianbiao.core.roles import PROJECT_MANAGER_GROUP

    pm = get_user_model().objects.create_user(username="bench-pm", password=None, is_staff=True)
    pm.groups.add(Group.objects.get(name=PROJECT_MANAGER_GROUP))
    client = Client()
    client.force_login(pm)

    from django.conf import settings

    pages = {
        "headcount": "/dashboards/",
        "headcount_uncached": "/dashboards/",
        "trivial": "/dashboards/about/",
        "prefecture": "/dashboards/region/520100/",
        "work": "/dashboards/work/",
        "programme": "/dashboards/programme/",
    }
    times: dict[str, list[float]] = {name: [] for name in pages}

    cache_seconds = getattr(settings, "QIANBIAO_DASHBOARD_CACHE_SECONDS", 300)

    def load(name: str) -> None:
        # "_uncached": every load computes the page from the snapshots (no page cache).
        settings.QIANBIAO_DASHBOARD_CACHE_SECONDS = 0 if name.endswith("_uncached") else cache_seconds
        started = time.perf_counter()
        response = client.get(pages[name])
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{pages[name]} answered {response.status_code}")
        times[name].append(elapsed)

    for name in pages:  # warm-up: connections, templates, caches of the ORM
        for _ in range(3):
            load(name)
        times[name].clear()
    for i in range(loads):
        # Alternate the order, so that drift on a shared machine hits all alike.
        order = ("headcount", "trivial", "headcount_uncached")
        for name in order if i % 2 == 0 else reversed(order):
            load(name)
    for name in ("prefecture", "work", "programme"):
        for _ in range(max(loads // 10, 5)):
            load(name)

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "n": len(ordered),
            "p50_s": round(statistics.median(ordered), 5),
            "p95_s": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 5),
        }

    return {name: summary(values) for name, values in times.items()}


def profile_page(path: str, loads: int = 20) -> None:
    import cProfile
    import io
    import pstats

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.QIANBIAO_DASHBOARD_CACHE_SECONDS = 0  # profile the work, not the cache
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-pm"))
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    log(f"{path}: {len(queries)} queries, {sum(float(q['time']) for q in queries) * 1000:.1f} ms in SQL")
    for q in sorted(queries, key=lambda q: -float(q["time"]))[:8]:
        log(f"  {float(q['time']) * 1000:6.1f} ms  {q['sql'][:160]}")
    reset_queries()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(loads):
        client.get(path)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    print(out.getvalue(), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", choices=SCALES, default="full")
    parser.add_argument("--loads", type=int, default=200, help="loads of each page, alternating")
    parser.add_argument("--profile", action="store_true", help="print where the headcount page spends time")
    args = parser.parse_args()
    scale = SCALES[args.scale]

    data_dir = None
    url = os.environ.get("DATABASE_URL")
    if not url:
        url, data_dir = start_postgres()
        log(f"PostgreSQL at {url}")
    try:
        setup_django(url)
        timings = build_world(**scale)
        log(f"timing {args.loads} loads of each page")
        figures = measure(args.loads)
        if args.profile:
            profile_page("/dashboards/")
    finally:
        if data_dir:
            stop_postgres(data_dir)

    for name, f in figures.items():
        log(f"{name:>10}: p50 {f['p50_s'] * 1000:7.1f} ms   p95 {f['p95_s'] * 1000:7.1f} ms   (n={f['n']})")
    ours, base = figures["headcount"], figures["trivial"]
    ratio = ours["p95_s"] / base["p95_s"]
    result = {
        "bench": "dashboard",
        "scale": args.scale,
        "annotators": scale["annotators"],
        "assignments": scale["assignments"],
        "snapshot_rows": timings["snapshot_rows"],
        "ours_p50_s": ours["p50_s"],
        "ours_p95_s": ours["p95_s"],
        "baseline_p50_s": base["p50_s"],
        "baseline_p95_s": base["p95_s"],
        "ratio": round(ratio, 2),
        "ratio_p50": round(ours["p50_s"] / base["p50_s"], 2),
        # Every load computing the page (page cache off): what a new snapshot's first view costs.
        "uncached_p50_s": figures["headcount_uncached"]["p50_s"],
        "uncached_p95_s": figures["headcount_uncached"]["p95_s"],
        "uncached_ratio": round(figures["headcount_uncached"]["p95_s"] / base["p95_s"], 2),
        "prefecture_p95_s": figures["prefecture"]["p95_s"],
        "work_p95_s": figures["work"]["p95_s"],
        "programme_p95_s": figures["programme"]["p95_s"],
        "backfill_s": round(timings["backfill_s"], 1),
        "goal": "p95 < 0.1 s and ratio <= 3",
        "met": ours["p95_s"] < GOAL_P95_S and ratio <= GOAL_RATIO,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
