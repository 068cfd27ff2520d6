"""requirements.lock is in step with pyproject.toml, and this virtualenv is what it
locks (bin/lib.sh installs from it). No network: the lock is read, not resolved."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LOCK = (REPO / "requirements.lock").read_text()
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?:\s*;\s*(?P<marker>.+))?$")


def _pins() -> dict[str, tuple[str, Marker | None]]:
    pins = {}
    for line in LOCK.splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        match = PIN.match(line)
        assert match, f"not an exact pin: {line!r}"
        marker = Marker(match["marker"]) if match["marker"] else None
        pins[canonicalize_name(match["name"])] = (match["version"], marker)
    return pins


def _declared() -> list[Requirement]:
    return [Requirement(r) for r in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]]


def test_the_lock_names_its_command_with_the_dev_extra():
    assert "uv pip compile pyproject.toml --extra dev --python-version 3.11" in LOCK


def test_every_declared_dependency_is_pinned_within_its_range():
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements.lock: compile it again (README)"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (str(requirement), version)


def test_crowd_kit_is_pinned_exactly_in_both():
    (crowd_kit,) = [r for r in _declared() if canonicalize_name(r.name) == "crowd-kit"]
    (spec,) = crowd_kit.specifier
    assert spec.operator == "=="
    assert _pins()["crowd-kit"][0] == spec.version


def test_this_virtualenv_has_exactly_the_locked_versions():
    wrong = {}
    for name, (version, marker) in _pins().items():
        if marker is not None and not marker.evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert wrong == {}, "locked vs installed; bin/test reinstalls when the lock changes"


def test_the_run_and_test_commands_and_the_image_install_from_the_lock():
    lib = (REPO / "bin" / "lib.sh").read_text()
    assert 'pip install -q -r "$REPO_ROOT/requirements.lock"' in lib
    assert 'pip install -q --no-deps -e "$REPO_ROOT"' in lib
    assert '"$REPO_ROOT/pyproject.toml" "$REPO_ROOT/requirements.lock" | sha256sum' in lib  # the stamp
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^COPY pyproject\.toml requirements\.lock \./$", dockerfile, re.M)
    assert "pip install -c requirements.lock -r" in dockerfile
