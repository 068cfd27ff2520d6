"""A real, local Label Studio server: install it, keep a data-dir template, start and stop it.

Label Studio pins its own Django, so it lives in its own virtualenv (``LABEL_STUDIO_VENV``,
default ``var/label-studio-venv``). A first start on an empty data dir runs ~35 s of
migrations, so :func:`ensure_template` does that once into ``LABEL_STUDIO_TEMPLATE_DIR``
(default ``var/label-studio-template``) and every new server starts from a copy of it.

Command line::

    python -m annotation.server install
    python -m annotation.server template
    python -m annotation.server run --port 8080 --data-dir var/label-studio
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

LABEL_STUDIO_VERSION = "1.23.2"
# `label-studio start` serves through Django's development server, which answered every
# request ~45-55 ms late here (even `/health`; curl 21 ms, gunicorn 10 ms for the same call).
# Servers we start run Label Studio's WSGI application under gunicorn instead; the
# `label-studio start` path only initialises the data-dir template (migrations, admin user).
GUNICORN_VERSION = "27.0.1"
_INSTALLED = f"label-studio=={LABEL_STUDIO_VERSION} gunicorn=={GUNICORN_VERSION}"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Our WSGI entry point for Label Studio's own interpreter (see the module inside).
_SITE_DIR = Path(__file__).resolve().parent / "label_studio_site"

# The fixed admin of every server we start. Local-only credentials (the server binds
# 127.0.0.1); a deployment sets its own through the environment.
DEFAULT_ADMIN_EMAIL = "admin@qianbiao.local"
DEFAULT_ADMIN_PASSWORD = "qianbiao-admin-local"
DEFAULT_ADMIN_TOKEN = "qianbiao0local0admin0token0000000000000000"

# Settings Label Studio also reads without its LABEL_STUDIO_ prefix: cleared in its environment.
_UNPREFIXED = ("USERNAME", "PASSWORD", "PORT", "HOST", "DEBUG")
# What Label Studio inherits from our environment (see label_studio_environment).
_KEEP = frozenset(
    {"HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "SSL_CERT_FILE", "SSL_CERT_DIR"}
)


class LabelStudioServerError(RuntimeError):
    """Label Studio could not be installed, started or reached."""


def venv_dir() -> Path:
    return Path(os.environ.get("LABEL_STUDIO_VENV") or REPO_ROOT / "var" / "label-studio-venv")


def template_dir() -> Path:
    return Path(os.environ.get("LABEL_STUDIO_TEMPLATE_DIR") or REPO_ROOT / "var" / "label-studio-template")


def label_studio_executable() -> Path:
    return venv_dir() / "bin" / "label-studio"


def _label_studio_package() -> Path:
    """Label Studio imports its apps as top-level modules (``core``, ``projects``, …) from
    inside its package directory, which ``label-studio start`` puts on sys.path itself."""
    found = sorted(venv_dir().glob("lib/python3*/site-packages/label_studio"))
    if not found:
        raise LabelStudioServerError(f"Label Studio is not installed in {venv_dir()}")
    return found[-1]


def _log(message: str) -> None:
    print(f"[annotation.server] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- install


def _installed(venv: Path) -> bool:
    stamp = venv / ".qianbiao-label-studio"
    return (
        (venv / "bin" / "label-studio").exists()
        and stamp.exists()
        and stamp.read_text().strip() == _INSTALLED
    )


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """One process at a time (parallel bin/test runs share var/)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_installed() -> Path:
    """Creates the server's virtualenv and installs Label Studio into it, unless already done.

    Idempotent: a stamp file records the installed version, so a second call costs a stat.
    Returns the ``label-studio`` executable.
    """
    venv = venv_dir()
    if _installed(venv):
        return label_studio_executable()
    with _exclusive(venv.parent / f".{venv.name}.lock"):
        if _installed(venv):
            return label_studio_executable()
        started = time.monotonic()
        if not (venv / "bin" / "python").exists():
            _log(f"creating virtualenv {venv}")
            # The base interpreter, not this venv's, so that the new venv is independent of ours.
            base = getattr(sys, "_base_executable", None) or sys.executable
            subprocess.run([base, "-m", "venv", str(venv)], check=True)
        _log(f"installing {_INSTALLED} (about 80 s)")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, *_INSTALLED.split()], check=True)
        for executable in (label_studio_executable(), venv / "bin" / "gunicorn"):
            if not executable.exists():
                raise LabelStudioServerError(f"pip installed {_INSTALLED} but {executable} is missing")
        (venv / ".qianbiao-label-studio").write_text(_INSTALLED + "\n")
        _log(f"label-studio installed in {time.monotonic() - started:.1f} s")
    return label_studio_executable()


# --------------------------------------------------------------------------- server


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (Label Studio would silently move elsewhere)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex((host, port)) == 0:
            return False
    # Nothing answers; also make sure we could bind it (and 0.0.0.0, which LS probes).
    for bind_host in (host, "0.0.0.0"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((bind_host, port))
            except OSError:
                return False
    return True


def free_port(lo: int, hi: int) -> int:
    """The first free port in [lo, hi]."""
    for port in range(lo, hi + 1):
        if port_is_free(port):
            return port
    raise LabelStudioServerError(f"no free port in {lo}-{hi}")


@dataclass(frozen=True)
class AdminCredentials:
    email: str = DEFAULT_ADMIN_EMAIL
    password: str = DEFAULT_ADMIN_PASSWORD
    token: str = DEFAULT_ADMIN_TOKEN

    @classmethod
    def from_env(cls) -> AdminCredentials:
        return cls(
            email=os.environ.get("QIANBIAO_LS_ADMIN_EMAIL") or DEFAULT_ADMIN_EMAIL,
            password=os.environ.get("QIANBIAO_LS_ADMIN_PASSWORD") or DEFAULT_ADMIN_PASSWORD,
            token=os.environ.get("QIANBIAO_LS_ADMIN_TOKEN") or DEFAULT_ADMIN_TOKEN,
        )


def label_studio_environment(
    data_dir: Path,
    admin: AdminCredentials,
    base: dict | None = None,
    *,
    secret: str | None = None,
    lockdown: bool = True,
    webhook_origin: str | None = None,
) -> dict:
    """The environment Label Studio runs with: our data dir and admin, no outside calls,
    Qianbiao's lock-down signed with ``secret`` (``LABEL_STUDIO_QIANBIAO_SECRET``; without
    one Label Studio refuses to start), SSRF protection on except for webhooks to exactly
    ``webhook_origin`` (``QIANBIAO_WEBHOOK_ORIGIN``, Qianbiao itself, on loopback here).
    ``lockdown=False`` serves Label Studio as shipped: only for tests that show what the
    lock-down prevents.

    Built from a short allow-list, not from our own environment: Label Studio's settings
    read many plain names (``SECRET_KEY``, ``DATABASE_URL``, ``USERNAME``, ``PASSWORD``,
    ``PORT``, ``HOST``, ``DEBUG``, ``REDIS_…``) that the platform or a shell may have set.
    """
    base = dict(os.environ if base is None else base)
    env = {name: value for name, value in base.items() if name in _KEEP or name.startswith("LC_")}
    for name in _UNPREFIXED:
        env.pop(name, None)
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=admin.email,
        LABEL_STUDIO_PASSWORD=admin.password,
        LABEL_STUDIO_USER_TOKEN=admin.token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        # Signup only through the invite link (its token is for the admin to read).
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        SSRF_PROTECTION_ENABLED="true",
        QIANBIAO_LABEL_STUDIO_LOCKDOWN="on" if lockdown else "off",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        LATEST_VERSION_CHECK="false",
        COLLECT_ANALYTICS="false",
        PYTHONUNBUFFERED="1",
        PATH=str(venv_dir() / "bin") + os.pathsep + base.get("PATH", os.defpath),
        VIRTUAL_ENV=str(venv_dir()),
    )
    secret = base.get("LABEL_STUDIO_QIANBIAO_SECRET", "") if secret is None else secret
    if secret:
        env["LABEL_STUDIO_QIANBIAO_SECRET"] = secret
    origin = base.get("QIANBIAO_WEBHOOK_ORIGIN", "") if webhook_origin is None else webhook_origin
    if origin:
        env["QIANBIAO_WEBHOOK_ORIGIN"] = origin
    return env


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
