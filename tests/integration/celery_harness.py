"""A real ``celery -A workers.app worker`` for integration tests.

The worker is a subprocess against the Redis and PostgreSQL that bin/test
started: it is pointed at pytest-django's test database (``test_qianbiao``) by
DATABASE_URL and at a Redis database of its own by CELERY_BROKER_URL. Tests
must commit what the worker is to see (``transactional_db``). Each worker runs
in its own process group, so ``kill9`` takes down the parent and its pool
children at once, as losing the machine would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, urlsplit, urlunsplit

from django.db import connection

REPO = Path(__file__).resolve().parents[2]
BROKER_DB = 9  # a Redis database of our own on bin/test's server


def broker_url() -> str | None:
    base = os.environ.get("REDIS_URL")
    if not base:
        return None
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{BROKER_DB}", "", ""))


def worker_database_url() -> str:
    """DATABASE_URL of the database this test process uses (the test database)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def wait_until(
    predicate: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str = ""
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


class CeleryWorker:
    def __init__(
        self,
        name: str,
        *,
        log_dir: Path,
        env: dict[str, str] | None = None,
        concurrency: int = 2,
        beat: bool = False,
        queues: str = "distribution,maintenance",
    ):
        self.nodename = f"{name}@qianbiao-test"
        self.log_path = log_dir / f"{name}.log"
        self.schedule_path = log_dir / f"{name}-beat-schedule"
        self.env = {
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "CELERY_BROKER_URL": broker_url() or "",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "worker",
            "-n",
            self.nodename,
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "--pool",
            "prefork",
            "-l",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            self.argv += ["--beat", "-s", str(self.schedule_path)]
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill9()
        self.process = subprocess.Popen(
            self.argv,
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill9 reaches the pool too
        )
        return self

    def wait_ready(self, app, timeout: float = 60) -> None:
        """Until the worker answers a control ping over the broker."""

        def answered():
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
            return app.control.ping(destination=[self.nodename], timeout=0.5)

        try:
            wait_until(answered, timeout=timeout, interval=0.2, what=f"{self.nodename} to answer ping")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tail()}") from None

    def kill9(self) -> None:
        """SIGKILL the whole process group: no shutdown, no acknowledgement."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._close_log()

    def stop(self, timeout: float = 20) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not end in time."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Pool children outlive a parent that died first; leave none behind.
        if self.process:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self._close_log()

    def _close_log(self) -> None:
        log = getattr(self, "_log", None)
        if log and not log.closed:
            log.close()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"


@contextlib.contextmanager
def app_on_broker(url: str) -> Iterator[SimpleNamespace]:
    """This process's Celery app (``.app``) pointed at the Redis database ``url``,
    emptied before and after (``.redis`` is a client on it)."""
    import redis

    from workers.app import app

    client = redis.Redis.from_url(url)
    client.flushdb()
    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    saved_env = os.environ.get("CELERY_BROKER_URL")
    # Celery reads CELERY_BROKER_URL from the environment before its own setting.
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    app.conf.broker_transport_options = {"visibility_timeout": 900}
    app._pool = None  # connection pools built for another broker
    app.amqp._producer_pool = None
    try:
        yield SimpleNamespace(app=app, redis=client)
    finally:
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.broker_url, app.conf.broker_transport_options = saved
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        client.flushdb()
        client.close()


@contextlib.contextmanager
def worker_starter(app, log_dir: Path) -> Iterator[Callable[..., CeleryWorker]]:
    """``start(name, **kwargs)`` starts a worker and waits until it answers; every
    worker started is stopped on leaving, then this process's connection is
    closed (the worker's data goes with the test database's flush: start clean)."""
    started: list[CeleryWorker] = []

    def start(name: str, **kwargs) -> CeleryWorker:
        worker = CeleryWorker(name, log_dir=log_dir, **kwargs).start()
        started.append(worker)
        worker.wait_ready(app)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
        connection.close()
