"""Label Studio push benchmark: our duplicate-safe push against one plain import call.

    python -m bench.label_studio_push [--scale small|full] [--rounds N]

Full scale: 10,000 tasks per push (``--scale small``: 2,000). A real Label Studio is
started from the data-dir template (``annotation.server``) on a free port in 58100–58199.

Ours: ``annotation.tasks.push_tasks`` — batches of 1,000, each first looked up by
assignment id (so a retried push creates nothing), then imported with the task ids read
back. Baseline: one ``import_tasks`` call with every task, no lookup. Also timed, not
compared: the same push with ``check_existing=False`` (first sends), and a retry of a push
that Label Studio already has in full (lookups only).

Rounds alternate which side runs first, each into a fresh project; medians are reported.
The last line is one JSON object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from annotation import server
from annotation.client import connect
from annotation.label_configs import text_classification
from annotation.projects import create_project, delete_project
from annotation.tasks import import_tasks, push_tasks
from annotation.types import TaskSpec

SCALES = {"small": 2_000, "full": 10_000}


def _specs(count: int) -> list[TaskSpec]:
    return [
        TaskSpec(
            assignment_id=i, route_key=f"r{i % 500}", data={"text": f"第 {i} 句：贵州数据标注基地样例文本。"}
        )
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count = SCALES[args.scale]
    specs = _specs(count)
    config = text_classification(["正面", "负面"])

    with tempfile.TemporaryDirectory(prefix="qianbiao-bench-ls-") as tmp:
        started = time.monotonic()
        instance = server.server_from_template(server.free_port(58100, 58199), Path(tmp) / "data")
        instance.start()
        print(f"Label Studio from the template in {time.monotonic() - started:.1f} s on {instance.url}")
        times: dict[str, list[float]] = {"ours": [], "baseline": [], "unchecked": [], "retry": []}
        try:
            with connect(instance.url, instance.token, timeout=600) as client:

                def timed(name: str, run) -> None:
                    project = create_project(client, f"bench {name} {len(times[name])}", config)
                    try:
                        began = time.monotonic()
                        run(project.id)
                        times[name].append(time.monotonic() - began)
                        if name == "ours":  # the same push again: everything is found, nothing created
                            began = time.monotonic()
                            again = push_tasks(client, project.id, specs)
                            times["retry"].append(time.monotonic() - began)
                            assert not any(p.created for p in again)
                    finally:
                        delete_project(client, project.id)

                sides = {
                    "ours": lambda pid: push_tasks(client, pid, specs, batch_size=1000),
                    "baseline": lambda pid: import_tasks(client, pid, [s.task_data() for s in specs]),
                    "unchecked": lambda pid: push_tasks(
                        client, pid, specs, batch_size=1000, check_existing=False
                    ),
                }
                for round_ in range(args.rounds):
                    order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
                    for name in order:
                        timed(name, sides[name])
                    print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()))
        finally:
            instance.stop()

    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["ours"] / medians["baseline"]
    for name, value in medians.items():
        print(f"{name:>9}: {value:6.1f} s  ({count / value:,.0f} tasks/s)")
    print(
        json.dumps(
            {
                "bench": "label_studio_push",
                "scale": args.scale,
                "tasks": count,
                "ours_s": round(medians["ours"], 2),
                "baseline_s": round(medians["baseline"], 2),
                "unchecked_s": round(medians["unchecked"], 2),
                "retry_s": round(medians["retry"], 2),
                "ratio": round(ratio, 2),
                "goal": "ratio <= 2",
                "met": ratio <= 2,
            }
        )
    )


if __name__ == "__main__":
    main()
