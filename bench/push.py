"""Push benchmark: assignments through Qianbiao (``assignments_push``) against importing
the same tasks straight into Label Studio, in the same run.

    python -m bench.push [--scale small|full] [--rounds N]

Full scale: 100,000 assignments (``--scale small``: 10,000) over 100 annotators (small: 20)
whose Label Studio accounts exist beforehand (accounts are provisioned lazily, once per
annotator, not per push). PostgreSQL: a throw-away cluster as bin/test starts it; Label
Studio: started from the data-dir template on a free port in 58100–58199.

Ours: ``qianbiao.labelling.push.assignments_push`` on a fresh dataset project —
Label Studio project + webhook, reading open assignments with their items from
PostgreSQL, the committed push mark, one import per 1,000 tasks, recording every task
id and the shard's bounds. Baseline: creating a Label Studio project and
``annotation.tasks.import_tasks`` of exactly the same task data in the same batches of
1,000, nothing else. Both run against the same Label Studio, served as the tests serve
it (gunicorn, ``annotation.server``). Rounds alternate which side goes first; medians
are reported; the last line is one JSON object (see bench/README.md).

Not in the push, timed separately and reported as ``queues_s``: the queue views (one
saved view per annotator per shard), which ``qianbiao.ensure_label_studio_queues``
makes after a push (or the annotator's hand-off makes on the spot).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from bench.distribution import setup_django, start_postgres, stop_postgres
from bench.services import label_studio_secret

SCALES = {"small": (10_000, 20), "full": (100_000, 100)}
BATCH = 1000


def _insert_work(project, annotator_ids: list[int], count: int) -> None:
    """``count`` items and one open assignment each, by multi-row INSERT (fast, and
    independent of the ORM's view of columns other helpers may be adding)."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from qianbiao.projects.models import Assignment, Item

    now = timezone.now()
    item_cols = {
        c.name
        for c in connection.introspection.get_table_description(connection.cursor(), Item._meta.db_table)
    }
    extra = ", extra_slots" if "extra_slots" in item_cols else ""
    extra_v = ", 0" if extra else ""
    with connection.cursor() as cur:
        for start in range(0, count, 5000):
            n = min(5000, count - start)
            rows = ",".join(
                cur.mogrify(
                    f"(%s, %s, %s::jsonb, false, 'assigned', %s{extra_v})",
                    [
                        project.pk,
                        f"ext-{start + i}",
                        json.dumps({"text": f"第 {start + i} 句：贵州数据标注基地样例文本。"}),
                        now,
                    ],
                )
                for i in range(n)
            )
            cur.execute(
                f"INSERT INTO {Item._meta.db_table} "
                f"(project_id, external_id, data, is_gold, state, created_at{extra}) "
                f"VALUES {rows} RETURNING id"
            )
            item_ids = [r[0] for r in cur.fetchall()]
            rows = ",".join(
                cur.mogrify(
                    "(%s, %s, %s, 0, false, 'open', 0, %s, %s, '')",
                    [
                        project.pk,
                        item_id,
                        annotator_ids[(start + i) % len(annotator_ids)],
                        now,
                        now + dt.timedelta(days=1),
                    ],
                )
                for i, item_id in enumerate(item_ids)
            )
            cur.execute(
                f"INSERT INTO {Assignment._meta.db_table} "
                "(project_id, item_id, annotator_id, slot, is_gold, state, "
                f"load_at_decision, assigned_at, expires_at, end_reason) VALUES {rows}"
            )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    count, n_annotators = SCALES[args.scale]

    from annotation import server

    label_studio_secret()

    url, data_dir = start_postgres()
    server.ensure_template()
    ls = server.server_from_template(server.free_port(58100, 58199), Path(tempfile.mkdtemp()) / "data")
    ls.start()
    try:
        setup_django(url)
        from django.conf import settings

        settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY = ls.url, ls.token
        settings.LABEL_STUDIO_WEBHOOK_URL = "http://127.0.0.1:9/hooks/label-studio/"
        settings.LABEL_STUDIO_PUSH_BATCH = BATCH

        from annotation.client import connect
        from annotation.label_configs import text_classification
        from annotation.projects import create_project, delete_project
        from annotation.tasks import import_tasks
        from annotation.types import TaskSpec
        from qianbiao.labelling.accounts import annotators_provision_label_studio
        from qianbiao.labelling.models import LabelStudioAccount
        from qianbiao.labelling.push import assignments_push
        from qianbiao.labelling.queues import queues_ensure_for_project
        from qianbiao.projects.models import Assignment
        from tests.factories import AnnotatorFactory, DatasetProjectFactory

        config = text_classification(["正面", "负面"]).xml
        people = [AnnotatorFactory().pk for _ in range(n_annotators)]
        t = time.perf_counter()
        annotators_provision_label_studio(annotator_ids=people)
        print(f"provisioned {n_annotators} accounts in {time.perf_counter() - t:.1f}s", flush=True)
        routes = dict(LabelStudioAccount.objects.values_list("annotator_id", "routing_key"))

        ours, base, queues = [], [], []
        with connect(ls.url, ls.token, timeout=600) as admin:
            for round_no in range(args.rounds):
                project = DatasetProjectFactory(
                    task_type="text_classification", label_config=config, overlap=1
                )
                _insert_work(project, people, count)
                rows = list(
                    Assignment.objects.filter(project=project)
                    .order_by("id")
                    .values_list("id", "annotator_id", "item__data", "item__external_id")
                )
                data = [TaskSpec(a, routes[p], d, e).task_data() for a, p, d, e in rows]

                def run_ours(project=project):
                    t = time.perf_counter()
                    outcome = assignments_push(project_id=project.pk, limit=count + 1)
                    took = time.perf_counter() - t
                    assert outcome.created == count, outcome
                    ours.append(took)
                    t = time.perf_counter()
                    made = queues_ensure_for_project(project_id=project.pk)
                    queues.append(time.perf_counter() - t)
                    assert made == n_annotators, made
                    return took

                def run_base(data=data, round_no=round_no):
                    t = time.perf_counter()
                    created = create_project(admin, f"baseline {round_no}", config, maximum_annotations=1)
                    for start in range(0, len(data), BATCH):
                        import_tasks(admin, created.id, data[start : start + BATCH])
                    took = time.perf_counter() - t
                    base.append(took)
                    delete_project(admin, created.id)
                    return took

                first, second = (run_ours, run_base) if round_no % 2 == 0 else (run_base, run_ours)
                a, b = first(), second()
                print(f"round {round_no}: {first.__name__} {a:.2f}s, {second.__name__} {b:.2f}s", flush=True)
                for shard in project.ls_projects.all():
                    delete_project(admin, shard.ls_project_id)
    finally:
        ls.stop()
        stop_postgres(data_dir)
    ours_s, base_s = statistics.median(ours), statistics.median(base)
    ratio = ours_s / base_s
    result = {
        "bench": "push",
        "scale": args.scale,
        "assignments": count,
        "annotators": n_annotators,
        "rounds": args.rounds,
        "ours_s": round(ours_s, 2),
        "baseline_s": round(base_s, 2),
        "queues_s": round(statistics.median(queues), 2),
        "ratio": round(ratio, 3),
        "goal": "ratio <= 1.15",
        "met": ratio <= 1.15,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
