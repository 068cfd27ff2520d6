"""Services the benchmarks start for themselves, the way bin/test does."""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port(start: int) -> int:
    for port in range(start, start + 200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port from {start}")


def start_postgres(*, first_port: int = 55700) -> tuple[str, str]:
    """A throw-away cluster through bin/lib.sh's pg_start: (url, data dir)."""
    script = (
        f'source "{REPO}/bin/lib.sh"; pg_start {free_port(first_port)} && echo "$DATABASE_URL $PG_DATA_DIR"'
    )
    out = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True)
    url, data_dir = out.stdout.split()
    return url, data_dir


def stop_postgres(data_dir: str) -> None:
    subprocess.run(
        ["bash", "-c", f'source "{REPO}/bin/lib.sh"; PG_DATA_DIR="{data_dir}"; pg_stop'], check=False
    )


def start_redis(*, first_port: int = 56700) -> tuple[str, str]:
    """A throw-away Redis through bin/lib.sh's redis_start: (url, its directory)."""
    script = (
        f'source "{REPO}/bin/lib.sh"; redis_start {free_port(first_port)} && echo "$REDIS_URL $REDIS_DIR"'
    )
    out = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True)
    url, directory = out.stdout.split()
    return url, directory


def stop_redis(directory: str) -> None:
    subprocess.run(
        ["bash", "-c", f'source "{REPO}/bin/lib.sh"; REDIS_DIR="{directory}"; redis_stop'], check=False
    )


def ensure_redis(*, first_port: int = 56700) -> None:
    """The broker and cache the settings require: CELERY_BROKER_URL and CACHE_URL as
    set, or databases 0 and 1 of a throw-away Redis (bin/lib.sh's redis_start),
    stopped when the bench exits."""
    if os.environ.get("CELERY_BROKER_URL"):
        return
    url, redis_dir = start_redis(first_port=first_port)
    base = url.rsplit("/", 1)[0]
    os.environ["CELERY_BROKER_URL"] = f"{base}/0"
    os.environ.setdefault("CACHE_URL", f"{base}/1")
    log(f"Redis at {base}")
    atexit.register(stop_redis, redis_dir)


# Benchmarks register their webhooks on a closed port: nothing they time waits for one.
BENCH_WEBHOOK_ORIGIN = "http://127.0.0.1:9"


def label_studio_secret() -> None:
    """A throw-away secret shared with the Label Studio the bench starts (its lock-down
    refuses to start without one), and the one webhook origin its SSRF protection lets
    through, unless the caller set theirs."""
    import secrets

    os.environ.setdefault("LABEL_STUDIO_QIANBIAO_SECRET", secrets.token_hex(24))
    os.environ.setdefault("QIANBIAO_WEBHOOK_ORIGIN", BENCH_WEBHOOK_ORIGIN)
