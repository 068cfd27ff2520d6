"""The demo scenario of the embedded run (``python -m seeds.demo``, which bin/run calls
unless ``QIANBIAO_DEMO=0``): five dataset projects in the programme's domains, each with
its Label Studio template and locally generated items (seeds/demo_data.py), imported
through the API's own upload service. Distribution, the push to Label Studio and quality
control then run as for any project; the simulated crowd (seeds/demo_crowd.py) labels.

Idempotent: a project is found by its name and client, and only items it does not hold
yet are imported (so a second run imports nothing and enqueues nothing).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

GOLD_EVERY = 10  # one item in ten is gold (known answer): entry exams and gold accuracy


def _django() -> None:
    platform = str(Path(__file__).resolve().parent.parent / "platform")
    if platform not in sys.path:
        sys.path.append(platform)  # appended, never first (see README: platform/ is no package)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qianbiao.settings")
    import django

    django.setup()


def _project(spec):
    from qianbiao.enterprises.models import Enterprise
    from qianbiao.projects.models import DatasetProject
    from qianbiao.projects.services import project_create
    from qianbiao.workforce.models import Language

    client = Enterprise.objects.get(name=spec.client)
    found = DatasetProject.objects.filter(client=client, name=spec.name).first()
    if found is not None:
        return found, False
    data = {
        "name": spec.name,
        "domain": spec.domain,
        "task_type": spec.task_type,
        "label_config": spec.label_config,
        "overlap": 2,
        "gold_ratio": "0.1",
        "min_grade": spec.min_grade,
        "open_cap": 20,
        "assignment_ttl_hours": 4,
    }
    if spec.required_language:
        data["required_language"] = Language.objects.get(code=spec.required_language)
    return project_create(enterprise=client, data=data), True


def _import(project, key: str, count: int, bar) -> int:
    """The rows the project lacks, in batches through the API's upload service."""
    from qianbiao.api.ingest import JSONL, BoundedBody
    from qianbiao.api.services import items_upload
    from seeds.demo_data import demo_item, item_external_id

    have = set(project.items.values_list("external_id", flat=True))
    missing = [n for n in range(count) if item_external_id(key, n) not in have]
    bar.update(count - len(missing))
    imported = 0
    for start in range(0, len(missing), 50):
        batch = missing[start : start + 50]
        rows = [demo_item(key, n, gold=n % GOLD_EVERY == 0) for n in batch]
        body = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()
        stream = BoundedBody(io.BytesIO(body).read, limit=len(body))
        imported += items_upload(project=project, body=stream, fmt=JSONL)["imported"]
        bar.update(len(batch))
    return imported


def demo_seed(*, items: int, progress: bool = True) -> dict[str, int]:
    """Creates what is missing of the scenario; returns project name -> items imported now."""
    from tqdm import tqdm

    from seeds.demo_data import demo_projects

    imported = {}
    for spec in demo_projects(items):
        project, created = _project(spec)
        with tqdm(total=items, unit="item", desc=spec.key, disable=not progress) as bar:
            imported[spec.name] = _import(project, spec.key, items, bar)
        state = "created" if created else "found"
        print(f"  {spec.name}: project {project.pk} {state}, {imported[spec.name]} items imported")
    return imported


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seeds.demo", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--items", type=int, default=int(os.environ.get("QIANBIAO_DEMO_ITEMS", "200")), help="per project"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if not 1 <= args.items <= 100_000:
        parser.error("--items: 1 to 100000")
    _django()
    demo_seed(items=args.items, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
