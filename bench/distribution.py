"""Distribution benchmark: our distributor against one set-based SQL statement.

    python -m bench.distribution [--scale small|full] [--rounds N] [--profile]

Full scale (the issue's): 1,000,000 items, overlap 3, 20,000 annotators with
skill, language and facility-grade constraints; ``--scale small`` is 50,000
items over 2,000 annotators. On PostgreSQL: DATABASE_URL if set (an empty
database we may migrate), else a throw-away cluster started like bin/test's.

Ours: ``project_distribute`` — eligibility, per-annotator caps, least-loaded
water-filling, DB-enforced overlap, COPY in chunked transactions, item states
kept — in this process, as a worker runs it.
Baseline: a single ``INSERT … SELECT`` that deals the same items round-robin
over all annotators with ``generate_series``, no constraints considered, into
an identical copy of the assignment table (same columns, indexes, unique,
check and foreign-key constraints).

Rounds alternate which side runs first; each starts from the same state
(assignments truncated, items pending, tables vacuumed and analysed). Medians
are reported; the last line is one JSON object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.services import ensure_redis, log, start_postgres, stop_postgres

REPO = Path(__file__).resolve().parent.parent
SCALES = {
    "small": {"items": 50_000, "annotators": 2_000},
    "full": {"items": 1_000_000, "annotators": 20_000},
}
OVERLAP = 3
DAILY_QUOTA = 500  # the programme's 500 items per annotator per day at full strength
BASELINE_TABLE = "bench_assignment_baseline"


# --- services ----------------------------------------------------------------


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    # Embedded mode with a throw-away var/ directory: every secret the settings
    # want is generated there, whatever secrets are added later.
    os.environ["QIANBIAO_ENV"] = "embedded"
    os.environ["QIANBIAO_VAR_DIR"] = tempfile.mkdtemp(prefix="qianbiao-bench-")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    ensure_redis()
    for path in (str(REPO / "platform"), str(REPO)):
        if path not in sys.path:
            sys.path.append(path)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qianbiao.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- data --------------------------------------------------------------------


def build_world(n_items: int, n_annotators: int, seed: int = 20260105) -> int:
    """The workforce and one project with its items; returns the project id."""
    import datetime as dt

    from django.db import connection

    from qianbiao.enterprises.models import Enterprise, EnterpriseRole
    from qianbiao.programme.models import Facility, Grade, Park, Region
    from qianbiao.projects.models import DatasetProject, Item, ItemState
    from qianbiao.workforce.models import (
        Annotator,
        AnnotatorLanguage,
        AnnotatorSkill,
        Employment,
        Language,
        TaskType,
    )
    from qianbiao.workforce.services import annotator_prepare_personal_data
    from seeds.identity import synthetic_credit_code, synthetic_id_card, synthetic_phone

    rng = random.Random(seed)
    region = Region.objects.create(code="520100", name="贵阳市")
    park = Park.objects.create(code="bench-park", name="基准测试园区", region=region)
    operators = Enterprise.objects.bulk_create(
        Enterprise(
            name=f"基准标注企业{k}", credit_code=synthetic_credit_code(800_000 + k), role=EnterpriseRole.BOTH
        )
        for k in range(10)
    )
    # The project needs L3 or better: a fifth of the seats are in L1/L2 facilities.
    grades = [
        Grade.L1,
        Grade.L2,
        Grade.L3,
        Grade.L3,
        Grade.L3,
        Grade.L3,
        Grade.L4,
        Grade.L4,
        Grade.L5,
        Grade.L5,
    ]
    facilities = Facility.objects.bulk_create(
        Facility(
            code=f"bench-fac-{k}",
            name=f"基准厂房{k}",
            region=region,
            park=park,
            operator=operators[k % len(operators)],
            grade=grades[k % len(grades)],
            seats=2000,
            physical_security=True,
            network_isolated=True,
            security_certification="等保三级",
        )
        for k in range(50)
    )
    Language.objects.get_or_create(code="hmn", defaults={"name": "苗语", "english_name": "Hmong/Miao"})
    Language.objects.get_or_create(code="bou", defaults={"name": "布依语", "english_name": "Bouyei"})

    log(f"creating {n_annotators} annotators")
    people = []
    for k in range(n_annotators):
        facility = facilities[rng.randrange(len(facilities))]
        a = Annotator(
            code=f"B{k:06d}", name=f"基准{k}", employer=facility.operator, facility=facility, skill_level=5
        )
        annotator_prepare_personal_data(a, id_card_number=synthetic_id_card(k), phone=synthetic_phone(k))
        people.append(a)
    Annotator.objects.bulk_create(people, batch_size=2000)
    task_types = list(TaskType.values)
    skills, languages = [], []
    for a in people:
        # Most hold the project's skill (bounding boxes), not all well enough.
        if rng.random() < 0.85:
            level = rng.choice([1, 2, 2, 3, 3])
            skills.append(AnnotatorSkill(annotator=a, task_type="bounding_box", proficiency=level))
        for task_type in rng.sample([t for t in task_types if t != "bounding_box"], k=rng.randint(0, 2)):
            skills.append(AnnotatorSkill(annotator=a, task_type=task_type, proficiency=rng.randint(1, 3)))
        for code, share in (("hmn", 0.9), ("bou", 0.3)):
            if rng.random() < share:
                level = rng.choice([1, 2, 3, 3])
                languages.append(AnnotatorLanguage(annotator=a, language_id=code, proficiency=level))
    AnnotatorSkill.objects.bulk_create(skills, batch_size=5000)
    AnnotatorLanguage.objects.bulk_create(languages, batch_size=5000)
    Employment.objects.bulk_create(
        (
            Employment(annotator=a, employer=a.employer, facility=a.facility, started_on=dt.date(2026, 1, 5))
            for a in people
        ),
        batch_size=5000,
    )

    client = Enterprise.objects.create(
        name="基准客户", credit_code=synthetic_credit_code(899_999), role=EnterpriseRole.CLIENT
    )
    project = DatasetProject.objects.create(
        client=client,
        name="基准：车辆框选",
        domain="autonomous_driving",
        task_type="bounding_box",
        label_config='<View><Image name="image" value="$image"/></View>',
        overlap=OVERLAP,
        gold_ratio=0,  # the baseline deals ordinary items only
        min_grade=Grade.L3,
        min_skill_proficiency=2,
        required_language_id="hmn",
        min_language_proficiency=2,
        daily_quota=DAILY_QUOTA,
        open_cap=DAILY_QUOTA,
    )
    log(f"creating {n_items} items")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Item._meta.db_table} (project_id, external_id, data, is_gold, state, created_at) "
            "SELECT %s, 'img-' || g, jsonb_build_object('image', '/data/cam/' || g || '.jpg'), "
            "false, %s, now() FROM generate_series(1, %s) AS g",
            [project.pk, ItemState.PENDING, n_items],
        )
    return project.pk


def create_baseline_table() -> None:
    """An identical copy of the assignment table: columns, defaults, indexes,
    unique and check constraints (LIKE … INCLUDING ALL), and its foreign keys."""
    from django.db import connection

    from qianbiao.projects.models import Assignment

    table = Assignment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {BASELINE_TABLE}")
        cursor.execute(f"CREATE TABLE {BASELINE_TABLE} (LIKE {table} INCLUDING ALL)")
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'f'",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {BASELINE_TABLE} ADD CONSTRAINT bench_{name} {definition}")


# --- the two contenders ------------------------------------------------------


def reset(project_id: int) -> None:
    from django.db import connection

    from qianbiao.projects.models import Assignment, DistributionRun, Item, ItemState

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Assignment._meta.db_table}, {BASELINE_TABLE} CASCADE")
        cursor.execute(f"DELETE FROM {DistributionRun._meta.db_table}")
        cursor.execute(
            f"UPDATE {Item._meta.db_table} SET state = %s WHERE project_id = %s AND state <> %s",
            [ItemState.PENDING, project_id, ItemState.PENDING],
        )
        for t in (Item._meta.db_table, Assignment._meta.db_table, BASELINE_TABLE):
            cursor.execute(f"VACUUM ANALYZE {t}")
        cursor.execute("CHECKPOINT")


def run_baseline(project_id: int) -> tuple[float, int]:
    from django.db import connection

    from qianbiao.projects.models import Item
    from qianbiao.workforce.models import Annotator

    sql = f"""
        INSERT INTO {BASELINE_TABLE} (project_id, item_id, annotator_id, slot, is_gold, state, run_id,
                                      load_at_decision, assigned_at, expires_at, end_reason)
        SELECT i.project_id, i.id, a.ids[1 + ((i.rn * {OVERLAP} + s.slot) %% a.n)], s.slot, false, 'open',
               NULL, 0, now(), now() + interval '24 hours', ''
        FROM (SELECT id, project_id, row_number() OVER (ORDER BY id) - 1 AS rn
              FROM {Item._meta.db_table} WHERE project_id = %s AND NOT is_gold) AS i
        CROSS JOIN generate_series(0, {OVERLAP - 1}) AS s(slot)
        CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids, count(*)::int AS n
                    FROM {Annotator._meta.db_table}) AS a
    """
    started = time.perf_counter()
    with connection.cursor() as cursor:  # autocommit: the deferred FK checks run in the timing
        cursor.execute(sql, [project_id])
        rows = cursor.rowcount
    return time.perf_counter() - started, rows


def run_ours(project_id: int, profile: bool = False) -> tuple[float, int, str]:
    from qianbiao.projects.distribution import project_distribute

    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    outcome = project_distribute(project_id=project_id)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    report = ""
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        report = out.getvalue()
    return elapsed, outcome.assignments_created, report


def verify(project_id: int, expected: int) -> dict[str, int]:
    """Cheap checks that ours did the whole job within the rules."""
    from django.db import connection

    from qianbiao.projects.eligibility import eligible_annotators
    from qianbiao.projects.models import Assignment, DatasetProject

    project = DatasetProject.objects.get(pk=project_id)
    eligible = set(eligible_annotators(project=project).values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT annotator_id, count(*) FROM {Assignment._meta.db_table} WHERE project_id = %s "
            "GROUP BY annotator_id",
            [project_id],
        )
        loads = dict(cursor.fetchall())
        cursor.execute(
            f"SELECT count(*) FROM (SELECT item_id FROM {Assignment._meta.db_table} WHERE project_id = %s "
            "GROUP BY item_id HAVING count(*) <> %s) AS bad",
            [project_id, project.overlap],
        )
        bad_items = cursor.fetchone()[0]
    total = sum(loads.values())
    assert total == expected, (total, expected)
    assert bad_items == 0, bad_items
    assert set(loads) <= eligible, "an ineligible annotator got work"
    assert max(loads.values()) <= min(project.open_cap, project.daily_quota)
    return {"eligible": len(eligible), "max_load": max(loads.values()), "min_load": min(loads.values())}


# --- main --------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile our first round")
    args = parser.parse_args(argv)
    size = SCALES[args.scale]

    data_dir = None
    database_url = os.environ.get("DATABASE_URL")
    if not database_url or not database_url.startswith("postgres"):
        database_url, data_dir = start_postgres(first_port=55600)
        log(f"throw-away PostgreSQL at {database_url}")
    try:
        setup_django(database_url)
        t0 = time.perf_counter()
        project_id = build_world(size["items"], size["annotators"])
        create_baseline_table()
        log(f"world built in {time.perf_counter() - t0:.1f}s")
        expected = size["items"] * OVERLAP
        ours_times, base_times, facts = [], [], {}
        for r in range(args.rounds):
            order = ("baseline", "ours") if r % 2 == 0 else ("ours", "baseline")
            for side in order:
                reset(project_id)
                if side == "baseline":
                    elapsed, rows = run_baseline(project_id)
                    assert rows == expected, (rows, expected)
                    base_times.append(elapsed)
                else:
                    elapsed, rows, report = run_ours(project_id, profile=args.profile and not ours_times)
                    facts = verify(project_id, expected)
                    ours_times.append(elapsed)
                    if report:
                        print(report, file=sys.stderr)
                log(f"round {r + 1} {side}: {elapsed:.2f}s ({rows} assignments)")
        ours, base = statistics.median(ours_times), statistics.median(base_times)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = {
            "bench": "distribution",
            "scale": args.scale,
            "items": size["items"],
            "overlap": OVERLAP,
            "annotators": size["annotators"],
            "eligible_annotators": facts.get("eligible"),
            "assignments": expected,
            "rounds": args.rounds,
            "ours_s": round(ours, 2),
            "baseline_s": round(base, 2),
            "ours_rows_per_s": round(expected / ours),
            "ratio": round(ours / base, 2),
            "goal": "ratio <= 3",
            "met": ours / base <= 3,
            "load_spread": [facts.get("min_load"), facts.get("max_load")],
            "peak_rss_mb": round(peak_mb),
        }
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return result
    finally:
        if data_dir:
            from django.db import connections

            connections.close_all()
            stop_postgres(data_dir)


if __name__ == "__main__":
    main()
