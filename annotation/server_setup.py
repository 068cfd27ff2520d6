"""Label Studio's own virtualenv, its environment, its admin and its port: what a
server needs before it starts (``annotation.server`` starts and stops it).

Label Studio pins its own Django, so it lives in its own virtualenv (``LABEL_STUDIO_VENV``,
default ``var/label-studio-venv``), installed once by :func:`ensure_installed`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import time
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
    # SO_REUSEADDR as every server sets it: the TIME_WAIT sockets a crashed server leaves
    # behind must not count as busy (without it a restart was refused for up to a minute).
    for bind_host in (host, "0.0.0.0"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
