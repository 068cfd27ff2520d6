"""Gunicorn settings, shared by the real deployment (docker-compose ``web``) and ``bin/run``.

Used as ``gunicorn --config python:qianbiao.gunicorn_conf qianbiao.wsgi:application``.
Every value can be changed through the environment; the defaults suit a 2-core machine.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# gthread, not sync: a sync worker is killed when one response outlasts ``timeout``,
# which a streaming export of a million results does; with threads the worker's main
# thread keeps reporting to the arbiter while a request runs.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", str(min(2 * multiprocessing.cpu_count() + 1, 8))))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then so that a slow leak never takes the web tier down.
max_requests = 2000
max_requests_jitter = 200

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"

# The heartbeat file on tmpfs: in a container /tmp may be on a slow overlay filesystem.
if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"

# gunicorn ≥ 25.1 opens a control socket at one fixed path per user ($HOME/.gunicorn):
# two servers on one machine (bin/run beside a test run) would fight over it, and the
# image's home is not writable. Older versions ignore the name.
control_socket_disable = True
