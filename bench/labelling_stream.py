"""Labelling-stream latency with Qianbiao's lock-down against Label Studio without it.

    python -m bench.labelling_stream [--scale small|full] [--rounds N]

Two real Label Studio servers from the data-dir template (``annotation.server``), one
locked down (``annotation/label_studio_site/qianbiao_lockdown.py``) and one as shipped,
with the same scene: one project, annotators with their own tokens, each with a queue
view filtered on their routing key. One *step* is what an annotator's labelling does per
task: ``GET /api/projects/{id}/next?view=V`` then ``POST /api/tasks/{id}/annotations/``.
Each round has every annotator label a slice of their queue on both servers, the order
of the servers alternating per round; p50/p95 of steps (and of each call) are reported.
Goal (issue 12): the lock-down adds at most 10 % at p95. The last line is one JSON object
(see /work/shared/BENCH.md).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from annotation import server
from annotation.accounts import invite_token, register_annotator
from annotation.client import connect
from annotation.label_configs import text_classification
from annotation.projects import create_project
from annotation.queues import ensure_queue_view, next_task
from annotation.signing import route_key_for
from annotation.tasks import import_tasks

SCALES = {"small": (2, 40), "full": (4, 150)}  # annotators, tasks each
RESULT = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["正面"]}}]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 1)


def _scene(instance, annotators: int, tasks: int, secret: str):
    """Annotators' (client, project id, view id) on one server."""
    with connect(instance.url, instance.token) as admin:
        project = create_project(admin, "bench labelling stream", text_classification(["正面", "负面"])).id
        invite = invite_token(admin)
        people = []
        for n in range(annotators):
            email = f"bench-{n}@annotators.qianbiao.test"
            login = register_annotator(instance.url, invite, email, "bench-pw-8chars")
            key = route_key_for(login.user_id, secret)
            import_tasks(admin, project, [{"text": f"第 {i} 句", "route_to": key} for i in range(tasks)])
            view = ensure_queue_view(admin, project, key).id
            people.append((connect(instance.url, login.token), project, view))
    return people


def _label(person, count: int, times: dict[str, list[float]]) -> None:
    client, project, view = person
    for _ in range(count):
        began = time.perf_counter()
        task = next_task(client, project, view)
        fetched = time.perf_counter()
        if task is None:
            return
        body = {"result": RESULT, "lead_time": 1.0}
        client.request("POST", f"/api/tasks/{task.id}/annotations/", json=body)
        done = time.perf_counter()
        times["next"].append(fetched - began)
        times["post"].append(done - fetched)
        times["step"].append(done - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    annotators, tasks = SCALES[args.scale]
    secret = os.environ.setdefault("LABEL_STUDIO_QIANBIAO_SECRET", secrets.token_hex(24))
    per_round = tasks // args.rounds

    with tempfile.TemporaryDirectory(prefix="qianbiao-bench-stream-") as tmp:
        servers = {}
        try:
            # One after the other: a free port is only taken once its server listens.
            for name, lockdown in (("ours", True), ("baseline", False)):
                servers[name] = server.server_from_template(
                    server.free_port(58100, 58199), Path(tmp) / name, lockdown=lockdown
                ).start()
            people = {name: _scene(s, annotators, tasks, secret) for name, s in servers.items()}
            times = {name: {"next": [], "post": [], "step": []} for name in servers}
            for round_ in range(args.rounds):
                order = ["ours", "baseline"] if round_ % 2 == 0 else ["baseline", "ours"]
                for n in range(annotators):
                    for name in order:
                        _label(people[name][n], per_round, times[name])
        finally:
            for instance in servers.values():
                instance.stop()

    summary = {}
    for name, measured in times.items():
        summary[name] = {
            call: {"p50_ms": _ms(statistics.median(v)), "p95_ms": _ms(_percentile(v, 0.95))}
            for call, v in measured.items()
        }
        print(f"{name:<9} steps={len(measured['step'])} " + "  ".join(
            f"{call} p50 {s['p50_ms']} ms p95 {s['p95_ms']} ms" for call, s in summary[name].items()
        ))  # fmt: skip
    ratio = summary["ours"]["step"]["p95_ms"] / summary["baseline"]["step"]["p95_ms"]
    print(json.dumps({
        "bench": "labelling_stream", "scale": args.scale, "steps": len(times["ours"]["step"]),
        "ours_p50_ms": summary["ours"]["step"]["p50_ms"], "ours_p95_ms": summary["ours"]["step"]["p95_ms"],
        "baseline_p50_ms": summary["baseline"]["step"]["p50_ms"],
        "baseline_p95_ms": summary["baseline"]["step"]["p95_ms"],
        "ratio": round(ratio, 3), "goal": "p95 ratio <= 1.10", "met": ratio <= 1.10,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
