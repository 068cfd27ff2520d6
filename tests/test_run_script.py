"""bin/run, the README's one command, end to end: a fresh var dir, a tiny seed, free
ports; it brings up its private PostgreSQL and Redis under the var dir, the admin
answers, the printed logins work, SIGTERM stops every process it started (the
database and Redis included), and a second run comes up on the same cluster. Also
the ensure_demo_users command it calls."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- ensure_demo_users


@pytest.fixture
def embedded(settings, tmp_path, monkeypatch):
    settings.EMBEDDED = True
    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("QIANBIAO_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("QIANBIAO_PM_PASSWORD", raising=False)
    return tmp_path


def _logins(output: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(admin|pm)\s+/\s+(\S+)", output, re.M))


@pytest.mark.django_db
def test_ensure_demo_users_is_idempotent_and_keeps_its_passwords_out_of_git(embedded, capsys):
    call_command("ensure_demo_users", url="http://127.0.0.1:8123/admin/")
    first = capsys.readouterr().out
    logins = _logins(first)
    assert set(logins) == {"admin", "pm"} and "http://127.0.0.1:8123/admin/" in first
    stored = json.loads((embedded / "secrets.json").read_text())
    assert stored["QIANBIAO_ADMIN_PASSWORD"] == logins["admin"]
    assert stored["QIANBIAO_PM_PASSWORD"] == logins["pm"]
    assert oct((embedded / "secrets.json").stat().st_mode & 0o777) == "0o600"

    User = get_user_model()
    admin, pm = User.objects.get(username="admin"), User.objects.get(username="pm")
    assert admin.is_superuser and admin.is_staff and admin.check_password(logins["admin"])
    assert pm.is_staff and not pm.is_superuser and pm.check_password(logins["pm"])
    assert list(pm.groups.values_list("name", flat=True)) == ["project_manager"]

    # A password changed since is put back, so that the printed login always works.
    pm.set_password("changed-by-hand")
    pm.save()
    call_command("ensure_demo_users")
    assert _logins(capsys.readouterr().out) == logins
    assert User.objects.filter(username__in=["admin", "pm"]).count() == 2
    pm.refresh_from_db()
    assert pm.check_password(logins["pm"]) and pm.groups.count() == 1


@pytest.mark.django_db
def test_ensure_demo_users_takes_passwords_from_the_environment(embedded, monkeypatch, capsys):
    monkeypatch.setenv("QIANBIAO_ADMIN_PASSWORD", "chosen-admin-pass")
    monkeypatch.setenv("QIANBIAO_PM_PASSWORD", "chosen-pm-pass")
    call_command("ensure_demo_users")
    assert _logins(capsys.readouterr().out) == {"admin": "chosen-admin-pass", "pm": "chosen-pm-pass"}
    assert not (embedded / "secrets.json").exists()


@pytest.mark.django_db
def test_ensure_demo_users_never_invents_a_password_outside_embedded_mode(embedded, settings):
    settings.EMBEDDED = False
    with pytest.raises(CommandError, match="QIANBIAO_ADMIN_PASSWORD"):
        call_command("ensure_demo_users")
    assert not get_user_model().objects.filter(username="admin").exists()


# --------------------------------------------------------------------------- bin/run


def _free_ports(n: int) -> list[int]:
    """n distinct free ports (held open together while they are picked)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment carries marker (our var dir): what bin/run started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _login(base: str, username: str, password: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(f"{base}/admin/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    form = {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"}
    request = urllib.request.Request(
        f"{base}/admin/login/",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Referer": f"{base}/admin/login/"},
    )
    response = opener.open(request, timeout=30)
    assert urllib.parse.urlparse(response.geturl()).path == "/admin/", f"{username} could not log in"
    return opener


def _run_until_up(env: dict[str, str], output: Path) -> subprocess.Popen:
    with output.open("w") as sink:
        run = subprocess.Popen(
            ["bash", str(REPO / "bin" / "run")],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 300
    while "is up on" not in output.read_text():
        if run.poll() is not None or time.monotonic() > deadline:
            _stop(run, env["QIANBIAO_VAR_DIR"])
            raise AssertionError(f"bin/run did not come up:\n{output.read_text()[-4000:]}")
        time.sleep(0.5)
    return run


def _stop(run: subprocess.Popen, var_dir: str) -> int:
    if run.poll() is None:
        run.send_signal(signal.SIGTERM)
    try:
        return run.wait(90)
    except subprocess.TimeoutExpired:  # pragma: no cover - then clean up before failing
        os.killpg(run.pid, signal.SIGKILL)
        for pid in _processes_with(f"QIANBIAO_VAR_DIR={var_dir}"):
            os.kill(pid, signal.SIGKILL)
        raise


@pytest.mark.integration
def test_bin_run_brings_the_platform_up_and_stops_it(tmp_path):
    port, pg_port, redis_port = _free_ports(3)
    # Not under tmp_path: pytest keeps that closed to other users, and the cluster
    # belongs to the postgres user, who must reach it.
    outside = Path(tempfile.mkdtemp(prefix="qianbiao-run-test-"))
    outside.chmod(0o711)
    var_dir = outside / "var"
    # Only what a person's shell would have: none of bin/test's database, broker or secrets.
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TERM") if name in os.environ}
    env.update(
        QIANBIAO_PORT=str(port),
        QIANBIAO_PG_PORT=str(pg_port),
        QIANBIAO_REDIS_PORT=str(redis_port),
        QIANBIAO_VAR_DIR=str(var_dir),
        QIANBIAO_SEED_ANNOTATORS="30",
        QIANBIAO_LABEL_STUDIO="0",  # the Label Studio server has its own tests
        QIANBIAO_WORKER_CONCURRENCY="1",
    )
    try:
        _first_run(env, tmp_path / "run.out", var_dir, (port, pg_port, redis_port))
        _second_run(env, tmp_path / "again.out", var_dir, port)
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def _first_run(env: dict[str, str], output: Path, var_dir: Path, ports: tuple[int, int, int]) -> None:
    port, pg_port, redis_port = ports
    base = f"http://127.0.0.1:{port}"
    run = _run_until_up(env, output)
    try:
        text = output.read_text()
        assert "new cluster" in text, text[-3000:]
        with urllib.request.urlopen(f"{base}/health", timeout=10) as response:
            assert json.load(response) == {"status": "ok"}
        assert (var_dir / "postgres" / "data" / "PG_VERSION").exists(), "its cluster in the var dir"
        assert (var_dir / "redis" / "redis.pid").exists(), "its Redis in the var dir"
        assert _port_open(pg_port) and _port_open(redis_port)
        assert not list(var_dir.rglob("*.sqlite3")), "no SQLite for the platform"
        assert (var_dir / "staticfiles" / "admin").is_dir(), "collectstatic ran"

        logins = _logins(text)
        assert set(logins) == {"admin", "pm"}, text[-3000:]
        for username in ("admin", "pm"):
            opener = _login(base, username, logins[username])
            with opener.open(f"{base}/admin/workforce/annotator/", timeout=30) as response:
                assert response.status == 200
                page = response.read().decode()
            assert re.search(r"\b30\b", page), f"{username} should see the 30 seeded annotators"

        started = _processes_with(f"QIANBIAO_VAR_DIR={var_dir}")
        assert len(started) >= 5, "web, worker, beat, PostgreSQL and Redis"
    finally:
        returncode = _stop(run, str(var_dir))
    assert returncode == 143, output.read_text()[-3000:]
    assert "stopped" in output.read_text()
    for busy in (port, pg_port, redis_port):
        assert not _port_open(busy), f"port {busy} still answers"
    assert _processes_with(f"QIANBIAO_VAR_DIR={var_dir}") == [], "bin/run left processes behind"


def _second_run(env: dict[str, str], again: Path, var_dir: Path, port: int) -> None:
    """On the cluster the first run left: no new initdb, the seeded data still there."""
    base = f"http://127.0.0.1:{port}"
    run = _run_until_up(env, again)
    try:
        text = again.read_text()
        assert "PostgreSQL" in text and "new cluster" not in text, text[-3000:]
        opener = _login(base, "admin", _logins(text)["admin"])
        with opener.open(f"{base}/admin/workforce/annotator/", timeout=30) as response:
            assert re.search(r"\b30\b", response.read().decode()), "the first run's annotators"
    finally:
        assert _stop(run, str(var_dir)) == 143, again.read_text()[-3000:]
    assert _processes_with(f"QIANBIAO_VAR_DIR={var_dir}") == [], "the second run left processes behind"
