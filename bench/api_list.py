"""A list endpoint's requests per second under gunicorn, against a bare DRF endpoint.

    python -m bench.api_list [--scale small|full] [--rounds N]

Both serve the first page (50 rows, cursor pagination) of the same enterprise's
dataset projects, from one gunicorn (2 sync workers, CONN_MAX_AGE=60, as
deployed) on the same database; load comes from this process (client threads
in two processes, one request per connection, as gunicorn's sync workers do).

Ours: ``GET /api/v1/projects/`` — API-key authentication (SHA-256 lookup),
per-key throttling, the enterprise scope, our pagination and serializer.
Baseline: ``GET /bare/projects/`` — a plain DRF ``ListAPIView`` with DRF's own
``TokenAuthentication`` (rest_framework.authtoken), ``IsAuthenticated``,
``CursorPagination`` and a ``ModelSerializer`` of the same fields, no throttling.

Full scale: 1,000 projects, 20 s per measurement; small: 200 projects, 5 s.
Rounds alternate which side runs first; medians are reported; the last line is
one JSON object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.api_import import Gunicorn, bench_environment, log, setup_django, start_postgres, stop_postgres

SCALES = {"small": {"projects": 200, "seconds": 5.0}, "full": {"projects": 1000, "seconds": 20.0}}
CLIENT_PROCESSES = 2
THREADS_PER_PROCESS = 4


# --- the bare endpoint (imported by gunicorn as the URLconf) ---------------------


def __getattr__(name: str):
    """``urlpatterns``, built on first use: Django must be set up by then."""
    if name != "urlpatterns":
        raise AttributeError(name)
    from django.urls import path
    from rest_framework import generics, pagination, permissions, serializers
    from rest_framework.authentication import TokenAuthentication

    from qianbiao.api.serializers import ProjectSerializer
    from qianbiao.projects.models import DatasetProject

    class BareSerializer(serializers.ModelSerializer):
        class Meta:
            model = DatasetProject
            fields = ProjectSerializer.Meta.fields

    class BarePagination(pagination.CursorPagination):
        ordering = "-id"
        page_size = 50

    class BareProjectList(generics.ListAPIView):
        authentication_classes = [TokenAuthentication]
        permission_classes = [permissions.IsAuthenticated]
        throttle_classes: list = []
        pagination_class = BarePagination
        serializer_class = BareSerializer

        def get_queryset(self):
            return DatasetProject.objects.filter(client_id=int(os.environ["BENCH_CLIENT_ID"]))

    from qianbiao import urls as platform_urls

    patterns = [path("bare/projects/", BareProjectList.as_view()), *platform_urls.urlpatterns]
    globals()["urlpatterns"] = patterns
    return patterns


SETTINGS = """
from qianbiao.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework.authtoken"]  # noqa: F405
ROOT_URLCONF = "bench.api_list"
"""


# --- load ----------------------------------------------------------------------


def _hammer(port: int, path: str, token: str, seconds: float, counts) -> None:
    ok = failed = 0
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def loop():
        nonlocal ok, failed
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", path, headers={"Authorization": f"Token {token}"})
                response = connection.getresponse()
                response.read()
                good = response.status == 200
            except OSError:
                good = False
            finally:
                connection.close()
            with lock:
                if good:
                    ok += 1
                else:
                    failed += 1

    threads = [threading.Thread(target=loop) for _ in range(THREADS_PER_PROCESS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts.put((ok, failed))


def requests_per_second(port: int, path: str, token: str, seconds: float) -> float:
    counts = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=_hammer, args=(port, path, token, seconds, counts))
        for _ in range(CLIENT_PROCESSES)
    ]
    for p in processes:
        p.start()
    results = [counts.get() for _ in processes]
    for p in processes:
        p.join()
    ok, failed = sum(r[0] for r in results), sum(r[1] for r in results)
    if failed:
        raise RuntimeError(f"{failed} failed requests on {path}")
    return ok / seconds


def check_same_rows(port: int, ours: tuple[str, str], bare: tuple[str, str]) -> None:
    pages = []
    for path, token in (ours, bare):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path, headers={"Authorization": f"Token {token}"})
        response = connection.getresponse()
        pages.append(json.loads(response.read()))
    assert [r["id"] for r in pages[0]["results"]] == [r["id"] for r in pages[1]["results"]], "different rows"
    assert len(pages[0]["results"]) == 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=SCALES, default="full")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scale = SCALES[args.scale]

    settings_dir = Path(tempfile.mkdtemp(prefix="qianbiao-bench-settings-"))
    (settings_dir / "bench_api_list_settings.py").write_text(SETTINGS)
    sys.path.append(str(settings_dir))
    data_dir = None
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        database_url, data_dir = start_postgres()
        log(f"PostgreSQL at {database_url}")
    env = bench_environment(
        database_url,
        DJANGO_SETTINGS_MODULE="bench_api_list_settings",
        API_THROTTLE_RATE="100000000/min",  # counted on every request, never reached
        CONN_MAX_AGE="60",
    )
    try:
        setup_django()
        from django.contrib.auth import get_user_model
        from rest_framework.authtoken.models import Token

        from qianbiao.api.keys import api_key_issue
        from qianbiao.enterprises.models import Enterprise, EnterpriseRole
        from qianbiao.projects.models import DatasetProject
        from seeds.identity import synthetic_credit_code

        client = Enterprise.objects.create(
            name="基准客户（列表）", credit_code=synthetic_credit_code(897_002), role=EnterpriseRole.CLIENT
        )
        other = Enterprise.objects.create(
            name="其他客户", credit_code=synthetic_credit_code(897_003), role=EnterpriseRole.CLIENT
        )
        config = '<View><Image name="image" value="$image"/><Choices name="c" toName="image"/></View>'
        DatasetProject.objects.bulk_create(
            DatasetProject(
                client=client if k % 4 else other,  # others' rows are there to be filtered out
                name=f"基准数据集{k}",
                domain="autonomous_driving",
                task_type="bounding_box",
                label_config=config,
            )
            for k in range(scale["projects"] * 4 // 3)
        )
        key = api_key_issue(enterprise=client, name="bench").plaintext
        user = get_user_model().objects.create(username="bench-client")
        token = Token.objects.create(user=user).key
        env["BENCH_CLIENT_ID"] = str(client.pk)

        ours_rps, bare_rps = [], []
        with Gunicorn(
            env, app="qianbiao.wsgi:application", extra=("--pythonpath", str(settings_dir))
        ) as server:
            ours, bare = ("/api/v1/projects/", key), ("/bare/projects/", token)
            check_same_rows(server.port, ours, bare)
            requests_per_second(server.port, *ours, 1.0)  # warm both workers' connections
            requests_per_second(server.port, *bare, 1.0)
            for round_no in range(args.rounds):
                sides = ["ours", "bare"] if round_no % 2 == 0 else ["bare", "ours"]
                for side in sides:
                    if side == "ours":
                        ours_rps.append(requests_per_second(server.port, *ours, scale["seconds"]))
                    else:
                        bare_rps.append(requests_per_second(server.port, *bare, scale["seconds"]))
                log(f"round {round_no + 1}: ours {ours_rps[-1]:.0f} req/s, bare DRF {bare_rps[-1]:.0f} req/s")
            peak = server.worker_peak_rss_mb()
    finally:
        if data_dir:
            stop_postgres(data_dir)

    ours_m, bare_m = statistics.median(ours_rps), statistics.median(bare_rps)
    ratio = ours_m / bare_m
    print(
        json.dumps(
            {
                "bench": "api_list",
                "scale": args.scale,
                "ours_rps": round(ours_m, 1),
                "baseline_rps": round(bare_m, 1),
                "ratio": round(ratio, 3),
                "goal": "ours req/s >= 0.7 x bare DRF req/s",
                "met": ratio >= 0.7,
                "peak_rss_mb": peak,
            }
        )
    )


if __name__ == "__main__":
    main()
