"""A real, local Label Studio server: start and stop it, and keep a data-dir template.

A first start on an empty data dir runs ~35 s of migrations, so :func:`ensure_template`
does that once into ``LABEL_STUDIO_TEMPLATE_DIR`` (default ``var/label-studio-template``)
and every new server starts from a copy of it. Its virtualenv, environment and admin:
``annotation.server_setup``.

Command line::

    python -m annotation.server install
    python -m annotation.server template
    python -m annotation.server run --port 8080 --data-dir var/label-studio
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from annotation.server_setup import (  # noqa: F401 - re-exported: the server's one public face
    _INSTALLED,
    _SITE_DIR,
    DEFAULT_ADMIN_EMAIL,
    DEFAULT_ADMIN_PASSWORD,
    DEFAULT_ADMIN_TOKEN,
    GUNICORN_VERSION,
    LABEL_STUDIO_VERSION,
    REPO_ROOT,
    AdminCredentials,
    LabelStudioServerError,
    _exclusive,
    _installed,
    _label_studio_package,
    _log,
    ensure_installed,
    free_port,
    label_studio_environment,
    label_studio_executable,
    port_is_free,
    template_dir,
    venv_dir,
)


class LabelStudioServer:
    """One Label Studio process on 127.0.0.1:port over data_dir.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. Its log goes to
    ``data_dir/server.log``.
    """

    def __init__(
        self,
        port: int,
        data_dir: Path | str,
        admin: AdminCredentials | None = None,
        host: str = "127.0.0.1",
        extra_env: dict[str, str] | None = None,
        initialise: bool = False,
        threads: int = 8,
        lockdown: bool = True,
    ) -> None:
        # initialise: run `label-studio start`, which migrates an empty data dir and creates
        # the admin (slow to answer); otherwise gunicorn over an initialised data dir.
        self.initialise = initialise
        self.threads = threads
        # False serves Label Studio without Qianbiao's lock-down (tests of what it prevents).
        self.lockdown = lockdown
        self.port = port
        self.host = host
        self.data_dir = Path(data_dir).resolve()
        self.admin = admin or AdminCredentials.from_env()
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen | None = None
        self._log_file = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token(self) -> str:
        return self.admin.token

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def command(self) -> list[str]:
        if self.initialise:
            return [
                str(label_studio_executable()), "start", "--no-browser",
                "--internal-host", self.host, "--port", str(self.port),
                "--data-dir", str(self.data_dir),
            ]  # fmt: skip
        # One process (its SQLite takes one writer at a time anyway), threads for concurrent
        # readers; a generous timeout (an import or export is one request) that the
        # platform's LABEL_STUDIO_PUSH_SETTLE_SECONDS must exceed; request lines up to
        # gunicorn's maximum (Data Manager filters travel in the query string).
        return [
            str(venv_dir() / "bin" / "gunicorn"), "qianbiao_label_studio_wsgi:application",
            "--bind", f"{self.host}:{self.port}", "--workers", "1",
            "--worker-class", "gthread", "--threads", str(self.threads),
            "--timeout", "300", "--graceful-timeout", "5", "--log-level", "warning",
            "--limit-request-line", "8190",
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        env = label_studio_environment(self.data_dir, self.admin, lockdown=self.lockdown)
        if not self.initialise:
            env.update(
                DJANGO_SETTINGS_MODULE="label_studio.core.settings.label_studio",
                PYTHONPATH=os.pathsep.join([str(_label_studio_package()), str(_SITE_DIR)]),
            )
        return {**env, **self.extra_env}

    def start(self, timeout: float = 300.0) -> LabelStudioServer:
        if self.process is not None:
            raise LabelStudioServerError("already started")
        if not _installed(venv_dir()):
            raise LabelStudioServerError(
                f"Label Studio is not installed in {venv_dir()}: run `python -m annotation.server install`"
            )
        if not self.initialise and not (self.data_dir / "label_studio.sqlite3").exists():
            raise LabelStudioServerError(
                f"{self.data_dir} is not an initialised data dir: start from the template "
                "(server_from_template) or pass initialise=True"
            )
        locked = self.lockdown and not self.initialise
        if locked and not self.environment().get("LABEL_STUDIO_QIANBIAO_SECRET"):
            raise LabelStudioServerError(
                "LABEL_STUDIO_QIANBIAO_SECRET is not set: Label Studio's lock-down and hand-off need it"
            )
        if not port_is_free(self.port, self.host):
            raise LabelStudioServerError(
                f"port {self.port} is busy: Label Studio would silently move to another port"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command(),
            env=self.environment(),
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends its children too
        )
        try:
            self.wait_ready(timeout)
            self._warm()
        except BaseException:
            self.stop()
            raise
        return self

    def _warm(self) -> None:
        """Renders one page before anyone else does: Label Studio fills its version info
        lazily on the first page it renders, and concurrent first renders race on it
        ("module 'version_' has no attribute 'info'", HTTP 500, seen on a fresh server)."""
        try:
            with urllib.request.urlopen(f"{self.url}/user/login/", timeout=30) as response:
                response.read()
        except OSError:  # the page's status does not matter, only that it was rendered
            pass

    def is_ready(self) -> bool:
        request = urllib.request.Request(
            f"{self.url}/api/current-user/whoami",
            headers={"Authorization": f"Token {self.admin.token}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status == 200 and bool(json.load(response).get("id"))
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise LabelStudioServerError(
                    f"Label Studio exited with {self.process.returncode}; log tail:\n{self.log_tail()}"
                )
            if self.is_ready():
                return
            time.sleep(0.3)
        raise LabelStudioServerError(
            f"Label Studio not ready after {timeout:.0f} s; log tail:\n{self.log_tail()}"
        )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(grace)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> LabelStudioServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- template

_TEMPLATE_STAMP = ".qianbiao-template"


def _template_signature(admin: AdminCredentials) -> str:
    described = json.dumps({"label_studio": LABEL_STUDIO_VERSION, "admin": admin.email, "token": admin.token})
    return hashlib.sha256(described.encode()).hexdigest()


def ensure_template(admin: AdminCredentials | None = None, port: int | None = None) -> Path:
    """An initialised, migrated data dir with our admin in it, created once and then reused.

    Built in a scratch dir next to the template and renamed into place, so an interrupted
    build never leaves a half-made template behind.
    """
    admin = admin or AdminCredentials.from_env()
    target = template_dir()
    stamp = target / _TEMPLATE_STAMP

    def ready() -> bool:
        return stamp.exists() and stamp.read_text() == _template_signature(admin)

    if ready():
        return target
    ensure_installed()
    with _exclusive(target.parent / f".{target.name}.lock"):
        if ready():
            return target
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        started = time.monotonic()
        try:
            _log(f"initialising a Label Studio data dir (migrations, about 35 s) into {target}")
            # Migrations take ~35 s on an idle 2-core machine, 150 s on a busy one.
            LabelStudioServer(
                port or free_port(58100, 58199), scratch / "data", admin=admin, initialise=True
            ).start(900).stop()
            (scratch / "data" / "server.log").unlink(missing_ok=True)
            (scratch / "data" / _TEMPLATE_STAMP).write_text(_template_signature(admin))
            if target.exists():
                shutil.rmtree(target)
            (scratch / "data").rename(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _log(f"template ready in {time.monotonic() - started:.1f} s")
    return target


def copy_template(data_dir: Path | str, admin: AdminCredentials | None = None) -> Path:
    """Fills data_dir (new or empty) from the template."""
    source = ensure_template(admin)
    data_dir = Path(data_dir)
    if data_dir.exists() and any(data_dir.iterdir()):
        raise LabelStudioServerError(f"{data_dir} is not empty")
    # Not .env: it holds the template's SECRET_KEY; each copy generates its own on first start.
    shutil.copytree(
        source, data_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(_TEMPLATE_STAMP, ".env")
    )
    return data_dir


def server_from_template(
    port: int, data_dir: Path | str, admin: AdminCredentials | None = None, *, lockdown: bool = True
) -> LabelStudioServer:
    """A not-yet-started server over a fresh copy of the template (an existing data dir is kept)."""
    admin = admin or AdminCredentials.from_env()
    data_dir = Path(data_dir)
    if not (data_dir / "label_studio.sqlite3").exists():
        copy_template(data_dir, admin)
    return LabelStudioServer(port, data_dir, admin=admin, lockdown=lockdown)


# --------------------------------------------------------------------------- command line


def _run(port: int, data_dir: Path) -> int:
    def _stop(signum, frame):  # noqa: ARG001
        raise SystemExit(0)  # unwinds through start()/install, whose cleanups stop what they began

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server = server_from_template(port, data_dir)
    try:
        server.start()
        print(f"LABEL_STUDIO_URL={server.url}", flush=True)
        print(f"LABEL_STUDIO_API_KEY={server.token}", flush=True)
        _log(f"Label Studio on {server.url} (data {server.data_dir}, log {server.log_path}); Ctrl-C stops it")
        while server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
        _log(f"Label Studio exited; log tail:\n{server.log_tail()}")
        return 1
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m annotation.server", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help=f"install label-studio=={LABEL_STUDIO_VERSION} into its own venv")
    commands.add_parser("template", help="build the initialised data-dir template (once)")
    run = commands.add_parser("run", help="run a server in the foreground")
    run.add_argument("--port", type=int, default=int(os.environ.get("LABEL_STUDIO_PORT", "8080")))
    run.add_argument("--data-dir", type=Path, default=REPO_ROOT / "var" / "label-studio")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            print(ensure_installed())
        elif args.command == "template":
            print(ensure_template())
        else:
            return _run(args.port, args.data_dir)
    except (LabelStudioServerError, subprocess.CalledProcessError) as error:
        _log(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
