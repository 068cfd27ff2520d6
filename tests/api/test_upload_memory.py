"""A 100 MiB JSONL upload imports with flat memory: the body is never in memory
whole. The request body is generated on the fly (the test holds no copy of it)
and fed to Django's request handler as a WSGI input stream, as a server would."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from django.test.client import ClientHandler, RequestFactory

from qianbiao.projects.models import Item

pytestmark = pytest.mark.django_db

LINE_BYTES = 256
ROWS = (100 << 20) // LINE_BYTES  # 409,600 rows, 100 MiB
PROC = Path("/proc/self")


def line(k: int) -> bytes:
    head = f'{{"external_id": "e{k:09d}", "data": {{"image": "https://img.example/{k}.jpg", "pad": "'
    tail = '"}}\n'
    return (head + "x" * (LINE_BYTES - len(head) - len(tail)) + tail).encode()


class GeneratedBody(io.RawIOBase):
    """ROWS lines of JSONL, produced as they are read."""

    def __init__(self):
        super().__init__()
        self.k = 0
        self.pending = b""

    def readable(self):
        return True

    def readinto(self, buffer):
        while len(self.pending) < len(buffer) and self.k < ROWS:
            self.pending += b"".join(line(k) for k in range(self.k, min(self.k + 256, ROWS)))
            self.k = min(self.k + 256, ROWS)
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def _status_kib(field: str) -> int:
    for row in (PROC / "status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])
    raise LookupError(field)


def peak_rss_growth_mib(action) -> tuple[float, object]:
    """Peak resident memory during ``action`` above what was resident before.

    Resets the kernel's high-water mark (clear_refs 5) and reads VmHWM after; a
    sampling thread is the fallback where that file cannot be written."""
    baseline = _status_kib("VmRSS")
    try:
        (PROC / "clear_refs").write_text("5")
    except OSError:
        peak = [baseline]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], _status_kib("VmRSS"))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = action()
        finally:
            done.set()
            sampler.join()
        return (peak[0] - baseline) / 1024, result
    result = action()
    return (_status_kib("VmHWM") - baseline) / 1024, result


def test_the_instrument_sees_a_body_held_whole():
    """The control: holding 100 MiB at once does show as ~100 MiB of growth."""
    growth, _ = peak_rss_growth_mib(lambda: len(b"x" * (100 << 20)))
    assert growth > 90


def test_a_100_mib_jsonl_upload_imports_with_flat_memory(key_a, project_a, settings):
    assert settings.API_MAX_UPLOAD_BYTES >= ROWS * LINE_BYTES
    environ = RequestFactory()._base_environ(
        PATH_INFO=f"/api/v1/projects/{project_a.pk}/items/",
        REQUEST_METHOD="POST",
        CONTENT_TYPE="application/x-ndjson",
        CONTENT_LENGTH=str(ROWS * LINE_BYTES),
        HTTP_AUTHORIZATION=f"Token {key_a}",
        **{"wsgi.input": GeneratedBody()},
    )
    handler = ClientHandler(enforce_csrf_checks=False)
    started = time.perf_counter()
    growth, response = peak_rss_growth_mib(lambda: handler(environ))
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.content[:500]
    assert json.loads(response.content)["imported"] == ROWS
    assert Item.objects.filter(project=project_a).count() == ROWS
    print(f"100 MiB JSONL: {ROWS} rows in {elapsed:.1f} s, peak RSS growth {growth:.1f} MiB")
    # Flat: a small fraction of the body (which alone would add 100 MiB).
    assert growth < 25, growth
