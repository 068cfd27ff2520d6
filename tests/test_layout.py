"""The standard library's ``platform`` module must survive our ``platform/`` source root."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
VENV_BIN = Path(sys.executable).parent

PROBE = (
    "import platform, pathlib, sysconfig; "
    "assert pathlib.Path(platform.__file__).resolve().parent == "
    "pathlib.Path(sysconfig.get_paths()['stdlib']).resolve(), platform.__file__; "
    "print('system=' + platform.system())"
)


def test_platform_directory_is_not_a_package():
    assert (REPO / "platform").is_dir()
    assert not (REPO / "platform" / "__init__.py").exists()


def test_stdlib_platform_in_this_process():
    import platform

    assert Path(platform.__file__).resolve().parent == STDLIB
    assert platform.system() == "Linux"


def _top_level_module_names() -> set[str]:
    names = set()
    for root in (REPO, REPO / "platform"):
        for entry in root.iterdir():
            if entry.name.startswith((".", "_")) or entry.name in {"var", "node_modules"}:
                continue
            if entry.is_dir() and (entry / "__init__.py").exists():
                names.add(entry.name)
            elif entry.suffix == ".py":
                names.add(entry.stem)
    return names


def test_no_top_level_module_shadows_the_stdlib():
    names = _top_level_module_names()
    assert {"qianbiao", "workers", "annotation", "seeds", "tests", "manage"} <= names
    assert not names & set(sys.stdlib_module_names)


@pytest.mark.parametrize(
    "argv",
    [
        [str(VENV_BIN / "python"), "manage.py", "shell", "-c", PROBE],
        [str(VENV_BIN / "python"), "-m", "pytest", "--version", "-p", "no:cacheprovider"],
        [str(VENV_BIN / "python"), "-c", "import workers.app; " + PROBE],
        [str(VENV_BIN / "celery"), "-A", "workers.app", "report"],
        [str(VENV_BIN / "gunicorn"), "--check-config", "qianbiao.wsgi:application"],
    ],
    ids=["manage.py", "pytest", "workers", "celery", "gunicorn"],
)
def test_entry_points_start_with_the_stdlib_platform(argv):
    # From a directory outside the repo too, so that only the install puts us on the path.
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    if "system=" in result.stdout or argv[-1] == PROBE:
        assert "system=Linux" in result.stdout
