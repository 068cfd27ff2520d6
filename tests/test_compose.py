"""docker-compose.yml, the real deployment, checked without a Docker engine (none runs on
the development machines): its services, that it gives the code every variable the
settings read and nothing the code does not know, that no secret is written in it, and
that its commands point at modules that exist. Also: production settings refuse to
start without their secrets.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
SETTINGS = REPO / "platform" / "qianbiao" / "settings.py"
CODE_DIRS = ("platform", "workers", "annotation", "seeds")

# Services that run our image, and what each runs.
OUR_SERVICES = ("migrate", "web", "worker", "beat")
EXPECTED_SERVICES = {"postgres", "redis", "labelstudio", "labelstudio-db", *OUR_SERVICES}

# Variables a third-party image reads (documented by that image, not by our code).
THIRD_PARTY_ENV = {
    "postgres": {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"},
    "labelstudio-db": {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"},
    # Read by the service's own command and healthcheck, in docker-compose.yml itself.
    "redis": {"REDIS_PASSWORD"},
    # LABEL_STUDIO.md, and Label Studio's settings (core/settings/base.py).
    "labelstudio": {
        "DJANGO_DB", "POSTGRE_NAME", "POSTGRE_USER", "POSTGRE_PASSWORD", "POSTGRE_HOST", "POSTGRE_PORT",
        "LABEL_STUDIO_BASE_DATA_DIR", "LABEL_STUDIO_HOST", "LABEL_STUDIO_CSRF_TRUSTED_ORIGINS",
        "LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_USER_TOKEN",
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN", "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK",
        "SSRF_PROTECTION_ENABLED", "SENTRY_DSN", "FRONTEND_SENTRY_DSN", "LATEST_VERSION_CHECK",
        "COLLECT_ANALYTICS",
        # Read by our entry point in that image (annotation/label_studio_site).
        "LABEL_STUDIO_QIANBIAO_SECRET", "QIANBIAO_WEBHOOK_ORIGIN",
    },
}  # fmt: skip
# Read by libraries rather than by our code.
LIBRARY_ENV = {"DJANGO_SETTINGS_MODULE"}

SECRET_NAME = re.compile(r"(SECRET|PASSWORD|_KEY|_KEYS|_TOKEN|_DSN)$")
NOT_SECRET = {"LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN", "SENTRY_DSN", "FRONTEND_SENTRY_DSN"}  # flags, or empty
MANDATORY = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*):?\?[^}]*\}$")

ENV_READ = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|os\.environ\.setdefault|\benv_\w+|\brequire_secret)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)


# --------------------------------------------------------------------------- helpers


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict:
    return compose()["services"]


def environment(service: str) -> dict[str, str]:
    env = services()[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


_TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class MissingVariable(LookupError):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ${V}, ${V:-default}, ${V-default}, ${V:?error}, ${V?error}, $$."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1) or match.group(4), match.group(2), match.group(3)
        have = env.get(name)
        unset = have is None or (have == "" and op is not None and op.startswith(":"))
        if op in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and unset:
            return arg
        return have or ""

    return _TOKEN.sub(substitute, value)


def mandatory_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):?\?", COMPOSE.read_text()))


def operator_env() -> dict[str, str]:
    """What an operator's .env would hold: a recognisable value for every mandatory variable."""
    return {name: f"x{name.lower()}x" for name in mandatory_variables()}


def resolved(service: str) -> dict[str, str]:
    return {key: interpolate(value, operator_env()) for key, value in environment(service).items()}


def code_files():
    for folder in CODE_DIRS:
        for path in (REPO / folder).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def names_read(path: Path) -> set[str]:
    return {a or b for a, b in ENV_READ.findall(path.read_text())}


# Required in every environment: there is no local fallback database, broker or cache.
SERVICES = {
    "DATABASE_URL": "postgres://qianbiao:pw@postgres:5432/qianbiao",
    "CELERY_BROKER_URL": "redis://:pw@redis:6379/0",
    "CACHE_URL": "redis://:pw@redis:6379/1",
}


def _secret_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any variable the settings read, plus overrides."""
    env = {
        k: v for k, v in os.environ.items() if k not in names_read(SETTINGS) and not k.startswith("QIANBIAO_")
    }
    env["DJANGO_SETTINGS_MODULE"] = "qianbiao.settings"
    env.update(overrides)
    return env


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


_RECORDER = r"""
import importlib, json, os, sys
code = [os.path.join(sys.argv[1], d) + os.sep for d in sys.argv[2:]]
seen = set()
original = os._Environ.__getitem__

def recording(self, key):
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.endswith(("os.py", "_collections_abc.py")):
        frame = frame.f_back
    if frame is not None and frame.f_code.co_filename.startswith(tuple(code)):
        seen.add(key)
    return original(self, key)

os._Environ.__getitem__ = recording
importlib.import_module("qianbiao.settings")
print(json.dumps(sorted(seen)))
"""


@cache
def settings_variables() -> frozenset[str]:
    """Every variable the settings read: by name in settings.py, and as actually read while
    loading the production settings (which catches a name the regex cannot see)."""
    static = names_read(SETTINGS)
    secrets = {name: "x" * 40 for name in required_secrets()}
    secrets["PII_ENCRYPTION_KEYS"] = _fernet_key()
    with tempfile.TemporaryDirectory() as var_dir:
        env = _secret_env(QIANBIAO_ENV="production", **SERVICES, QIANBIAO_VAR_DIR=var_dir, **secrets)
        result = subprocess.run(
            [sys.executable, "-c", _RECORDER, str(REPO), *CODE_DIRS],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return frozenset(static | set(json.loads(result.stdout.strip().splitlines()[-1])))


@cache
def required_secrets() -> tuple[str, ...]:
    return tuple(re.findall(r"""require_secret\(\s*["']([A-Z][A-Z0-9_]*)["']""", SETTINGS.read_text()))


def dockerfile_env() -> set[str]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    names: set[str] = set()
    for line in text.splitlines():
        if line.strip().upper().startswith("ENV "):
            names |= set(re.findall(r"\b([A-Z][A-Z0-9_]*)=", line))
    return names


def command(service: str) -> list[str]:
    cmd = services()[service].get("command")
    return cmd.split() if isinstance(cmd, str) else [str(part) for part in cmd]


def celery_app_module(argv: list[str]) -> str:
    for i, part in enumerate(argv):
        if part in ("-A", "--app"):
            return argv[i + 1]
        if part.startswith("--app="):
            return part.split("=", 1)[1]
    raise AssertionError(f"no -A/--app in {argv}")


# --------------------------------------------------------------------------- services


def test_every_expected_service_is_there():
    assert set(services()) >= EXPECTED_SERVICES, EXPECTED_SERVICES - set(services())


def test_our_services_run_the_image_built_from_the_dockerfile():
    images = set()
    for name in OUR_SERVICES:
        service = services()[name]
        build = service.get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context in (".", "./"), f"{name} must be built from the repository root"
        images.add(service.get("image"))
    assert len(images) == 1, f"web, worker, beat and migrate should share one image, not {images}"


def test_dockerfile_installs_the_project():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M), "the platform targets Python 3.11"
    assert re.search(r"^COPY \. \.", text, re.M)
    assert re.search(r"pip install .*(-e \.|\s\.$)", text, re.M), (
        "the Dockerfile must pip-install the project"
    )
    assert "manage.py collectstatic" in text
    leaked = {name for name in dockerfile_env() if SECRET_NAME.search(name)}
    assert not leaked, f"secrets must not be ENV in the image: {leaked}"
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", "var", ".git"} <= ignored, (
        "keep local state and secrets out of the build context"
    )
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_settings_get_every_variable_they_read():
    provided_by_image = dockerfile_env()
    for name in OUR_SERVICES:
        missing = settings_variables() - set(environment(name)) - provided_by_image
        assert not missing, (
            f"settings read {sorted(missing)} but the {name} service does not set them: "
            "add them to x-qianbiao-environment in docker-compose.yml (or ENV in the Dockerfile)"
        )


def test_every_variable_set_for_our_services_is_read_by_the_code():
    known = set(settings_variables()) | LIBRARY_ENV
    for path in code_files():
        known |= names_read(path)
    for name in OUR_SERVICES:
        unknown = set(environment(name)) - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which no code reads (a typo?)"


def test_third_party_services_set_only_documented_variables():
    for name in services():
        if name in OUR_SERVICES:
            continue
        assert name in THIRD_PARTY_ENV, f"document the variables of the new service {name} in THIRD_PARTY_ENV"
        unknown = set(environment(name)) - THIRD_PARTY_ENV[name]
        assert not unknown, f"{name} sets {sorted(unknown)}, which its image does not document"
    redis = services()["redis"]
    assert "$$REDIS_PASSWORD" in " ".join(command("redis")) + json.dumps(redis["healthcheck"])


def test_production_mode_and_no_debug():
    for name in OUR_SERVICES:
        env = resolved(name)
        assert env["QIANBIAO_ENV"] == "production"
        assert env.get("DEBUG", "false").lower() in ("0", "false", "no", "off")
        assert env.get("CELERY_TASK_ALWAYS_EAGER", "false").lower() in ("0", "false", "no", "off")


# --------------------------------------------------------------------------- secrets


def test_no_secret_has_a_value_in_the_file():
    for name in services():
        for key, value in environment(name).items():
            if SECRET_NAME.search(key) and key not in NOT_SECRET:
                assert MANDATORY.match(value), (
                    f"{name}: {key} must be a mandatory interpolation like ${{{key}:?message}}, "
                    f"never a literal or a default"
                )
        for key, value in resolved(name).items():
            # Passwords inside URLs: postgres://user:PASSWORD@host/...
            match = re.match(r"^[a-z][a-z0-9+]*://[^/@:]*:(?P<password>[^@]*)@", value)
            if match:
                assert match["password"] in operator_env().values(), (
                    f"{name}: the password in {key} must come from a mandatory variable"
                )


def test_secrets_the_settings_require_are_mandatory_variables():
    for secret in required_secrets():
        for name in OUR_SERVICES:
            match = MANDATORY.match(environment(name).get(secret, ""))
            assert match, f"{name}: {secret} must be ${{{secret}:?...}}"


def test_compose_refuses_to_interpolate_without_its_secrets():
    for secret in mandatory_variables():
        env = {k: v for k, v in operator_env().items() if k != secret}
        with pytest.raises(MissingVariable, match=secret):
            for name in services():
                for value in environment(name).values():
                    interpolate(value, env)
                interpolate(json.dumps(services()[name].get("command", "")), env)


def test_the_readme_documents_every_variable():
    readme = (REPO / "README.md").read_text()
    undocumented = {name for name in mandatory_variables() if f"`{name}`" not in readme}
    assert not undocumented, f"README.md, Real deployment: document {sorted(undocumented)}"
    undocumented = {name for name in settings_variables() if f"`{name}`" not in readme}
    assert not undocumented, f"README.md, Configuration: add {sorted(undocumented)} to the table"


# --------------------------------------------------------------------------- wiring


def test_urls_point_at_the_services():
    env = resolved("web")
    database = re.match(
        r"^postgres(?:ql)?://(?P<user>[^:]+):[^@]+@(?P<host>[^:/]+):5432/(?P<db>\w+)$", env["DATABASE_URL"]
    )
    assert database, env["DATABASE_URL"]
    postgres = resolved("postgres")
    assert database["host"] == "postgres"
    assert (database["user"], database["db"]) == (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"])
    assert f"{database['user']}:{operator_env()['POSTGRES_PASSWORD']}@" in env["DATABASE_URL"]
    assert postgres["POSTGRES_PASSWORD"] == operator_env()["POSTGRES_PASSWORD"]

    broker = re.match(r"^redis://:(?P<password>[^@]+)@(?P<host>[^:/]+):6379/\d+$", env["CELERY_BROKER_URL"])
    assert broker and broker["host"] == "redis"
    assert broker["password"] == resolved("redis")["REDIS_PASSWORD"]

    cache = re.match(r"^redis://:(?P<password>[^@]+)@(?P<host>[^:/]+):6379/(?P<db>\d+)$", env["CACHE_URL"])
    assert cache and cache["host"] == "redis" and cache["password"] == broker["password"]
    assert cache["db"] != env["CELERY_BROKER_URL"].rsplit("/", 1)[1], (
        "keep the cache out of the broker's database"
    )

    assert re.match(r"^http://labelstudio:8080/?$", env["LABEL_STUDIO_URL"])


def test_label_studio_is_configured_as_label_studio_md_says():
    service = services()["labelstudio"]
    env = environment("labelstudio")
    # The official image, derived to serve our WSGI entry point (the lock-down).
    assert service["build"] == "./annotation/label_studio_site"
    site = REPO / "annotation" / "label_studio_site"
    dockerfile = (site / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M).group(1)
    assert base == "heartexlabs/label-studio:1.23.2"
    assert "qianbiao_label_studio_wsgi:application" in (site / "qianbiao-start.sh").read_text()
    try:
        from annotation.server import LABEL_STUDIO_VERSION
    except ImportError:  # pragma: no cover
        LABEL_STUDIO_VERSION = "1.23.2"
    assert base.endswith(":" + LABEL_STUDIO_VERSION), "one Label Studio version everywhere"
    assert env["SSRF_PROTECTION_ENABLED"] == "true"
    assert env["QIANBIAO_WEBHOOK_ORIGIN"] == "http://web:8000"
    assert env["LABEL_STUDIO_QIANBIAO_SECRET"] == environment("web")["LABEL_STUDIO_QIANBIAO_SECRET"]
    # The token Label Studio gives its admin is the one Qianbiao calls it with.
    assert env["LABEL_STUDIO_USER_TOKEN"] == environment("web")["LABEL_STUDIO_API_KEY"]
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"
    for outside_call in ("SENTRY_DSN", "FRONTEND_SENTRY_DSN"):
        assert env[outside_call] == ""
    assert env["LATEST_VERSION_CHECK"] == env["COLLECT_ANALYTICS"] == "false"
    # Its settings fall back to these unprefixed names: never set them.
    assert not {"USERNAME", "PASSWORD", "PORT", "HOST", "DEBUG"} & set(env)
    lsdb = resolved("labelstudio-db")
    ls = resolved("labelstudio")
    assert ls["POSTGRE_HOST"] == "labelstudio-db"
    assert (ls["POSTGRE_NAME"], ls["POSTGRE_USER"], ls["POSTGRE_PASSWORD"]) == (
        lsdb["POSTGRES_DB"], lsdb["POSTGRES_USER"], lsdb["POSTGRES_PASSWORD"],
    )  # fmt: skip


def test_worker_and_beat_run_the_real_celery_app():
    from celery import Celery

    for name, subcommand in (("worker", "worker"), ("beat", "beat")):
        argv = command(name)
        assert argv[0] == "celery" and subcommand in argv, argv
        module_name = celery_app_module(argv)
        assert module_name == "workers.app"
        module = importlib.import_module(module_name)
        assert isinstance(module.app, Celery)
    assert "workers.app" in " ".join(services()["worker"]["healthcheck"]["test"])


def test_web_runs_gunicorn_on_the_wsgi_application():
    argv = command("web")
    assert argv[0] == "gunicorn"
    target = argv[-1]
    assert target == "qianbiao.wsgi:application"
    config = argv[argv.index("--config") + 1] if "--config" in argv else None
    assert config == "python:qianbiao.gunicorn_conf"
    importlib.import_module("qianbiao.gunicorn_conf")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gunicorn"), "--check-config", "--config", config, target],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def test_migrate_is_a_one_shot_that_everything_waits_for():
    migrate = services()["migrate"]
    argv = command("migrate")
    assert argv[-2:] == ["migrate", "--noinput"] and "manage.py" in argv
    assert (REPO / "manage.py").exists()
    assert str(migrate.get("restart", "no")) == "no"
    for name in ("web", "worker", "beat"):
        depends = services()[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name


def test_depends_on_conditions_have_healthchecks_behind_them():
    for name, service in services().items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: use depends_on with conditions"
        for target, spec in depends.items():
            assert target in services(), f"{name} depends on unknown {target}"
            assert spec.get("condition") in (
                "service_started", "service_healthy", "service_completed_successfully",
            )  # fmt: skip
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services()[target], f"{target} needs a healthcheck"
    for name in ("postgres", "redis", "labelstudio", "labelstudio-db", "web", "worker"):
        assert services()[name].get("healthcheck"), f"{name} needs a healthcheck"


def test_workers_scale_and_beat_does_not():
    worker = services()["worker"]
    assert "container_name" not in worker, "a fixed container name prevents --scale worker=N"
    assert "ports" not in worker, "a published port prevents --scale worker=N"
    replicas = worker.get("deploy", {}).get("replicas", 1)
    assert int(interpolate(str(replicas), {})) >= 1
    assert int(services()["beat"]["deploy"]["replicas"]) == 1, "two beats send every periodic task twice"
    for name, service in services().items():
        assert "container_name" not in service, f"{name}: container_name stops two deployments on one host"


def test_compose_itself_accepts_the_file(tmp_path):
    """With the docker client's compose (or docker-compose) on the machine, let it validate too."""
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        base = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        base = ["docker-compose"]
    else:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    argv = [*base, "--env-file", str(empty), "-f", str(COMPOSE), "config", "-q"]
    clean = {k: v for k, v in os.environ.items() if k not in mandatory_variables()}
    ok = subprocess.run(argv, env={**clean, **operator_env()}, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(argv, env=clean, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "set " in refused.stderr, refused.stderr


# --------------------------------------------------------------------------- settings


def _django_setup(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("missing", required_secrets())
def test_production_settings_refuse_to_start_without_a_secret(missing, tmp_path):
    secrets = {name: "x" * 40 for name in required_secrets() if name != missing}
    if "PII_ENCRYPTION_KEYS" in secrets:
        secrets["PII_ENCRYPTION_KEYS"] = _fernet_key()
    env = _secret_env(
        QIANBIAO_ENV="production", **SERVICES, QIANBIAO_VAR_DIR=str(tmp_path / "var"), **secrets
    )
    result = _django_setup(env, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and missing in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "var" / "secrets.json").exists(), "production must never generate a secret"


@pytest.mark.parametrize("mode", ["production", "embedded"])
@pytest.mark.parametrize("missing", sorted(SERVICES))
def test_settings_refuse_to_start_without_their_services(missing, mode, tmp_path):
    secrets = {name: "x" * 40 for name in required_secrets()}
    secrets["PII_ENCRYPTION_KEYS"] = _fernet_key()
    services = {k: v for k, v in SERVICES.items() if k != missing}
    env = _secret_env(QIANBIAO_VAR_DIR=str(tmp_path / "var"), **secrets, **services)
    if mode == "production":
        env["QIANBIAO_ENV"] = "production"
    result = _django_setup(env, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and missing in result.stderr, result.stderr[-2000:]


def test_production_settings_start_with_their_secrets(tmp_path):
    secrets = {name: "x" * 40 for name in required_secrets()}
    secrets["PII_ENCRYPTION_KEYS"] = _fernet_key()
    env = _secret_env(
        QIANBIAO_ENV="production", **SERVICES, QIANBIAO_VAR_DIR=str(tmp_path / "var"), **secrets
    )
    result = _django_setup(env, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "var" / "secrets.json").exists()


def test_settings_refuse_a_database_other_than_postgresql(tmp_path):
    env = _secret_env(
        QIANBIAO_VAR_DIR=str(tmp_path / "var"), **{**SERVICES, "DATABASE_URL": "sqlite:///x.db"}
    )
    result = _django_setup(env, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "PostgreSQL" in result.stderr, result.stderr[-2000:]


def test_embedded_settings_generate_their_secrets_once(tmp_path):
    env = _secret_env(QIANBIAO_VAR_DIR=str(tmp_path / "var"), **SERVICES)
    assert _django_setup(env, tmp_path).returncode == 0
    store = tmp_path / "var" / "secrets.json"
    first = json.loads(store.read_text())
    assert set(required_secrets()) <= set(first)
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    assert _django_setup(env, tmp_path).returncode == 0
    assert json.loads(store.read_text()) == first
