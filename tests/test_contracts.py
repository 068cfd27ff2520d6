"""What may import what: the import-linter contracts of pyproject.toml hold, and they
do break when a forbidden import is added (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _lint_imports(cwd: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    # The editable install finds qianbiao under platform/; PYTHONPATH says it again
    # (repo root first, so that platform/ never comes before the standard library's
    # module) and puts any copies made by a test ahead of the installed packages.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (*paths, REPO, REPO / "platform")))}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_contract_is_kept():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    lines = result.stdout.splitlines()
    for contract in CONTRACTS:
        assert any(line.startswith(f"{contract['name']} KEPT") for line in lines), contract["name"]
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("package", "module", "forbidden", "contract"),
    [
        ("annotation", "types.py", "import qianbiao", "adapter"),
        ("annotation", "client.py", "import django", "adapter"),
        ("bench", "services.py", "import label_studio_sdk", "sdk"),
        ("workers", "beat.py", "import seeds", "product"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, package, module, forbidden, contract):
    """The real configuration, run on a copy of one package with one import added."""
    shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / package / module
    target.write_text(target.read_text() + f"\n{forbidden}  # added by the test\n")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")

    result = _lint_imports(tmp_path, tmp_path)

    assert result.returncode != 0, result.stdout[-4000:]
    (name,) = [c["name"] for c in CONTRACTS if c["id"] == contract]
    assert f"{name} BROKEN" in result.stdout
    assert f"{package}.{module.removesuffix('.py')} -> {forbidden.split()[-1]}" in result.stdout
    assert "1 broken." in result.stdout


# What Label Studio's interpreter has: its own Django apps (top-level there), Django, DRF.
LABEL_STUDIO_HAS = {"label_studio", "core", "data_manager", "tasks", "users", "webhooks", "projects"}
LABEL_STUDIO_HAS |= {"django", "rest_framework"}


def test_the_label_studio_side_imports_only_what_label_studio_has():
    """label_studio_site/ runs in Label Studio's interpreter, where none of our packages
    exist: it imports only the standard library, what Label Studio ships, and its own
    modules (top-level names there). It is a package only so that the adapter can share
    its dependency-free signing module (annotation/signing.py)."""
    site = REPO / "annotation" / "label_studio_site"
    own = {path.stem for path in site.glob("*.py")}
    allowed = set(sys.stdlib_module_names) | LABEL_STUDIO_HAS | own
    for path in site.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, path
                names = [node.module or ""]
            else:
                continue
            assert {n.split(".")[0] for n in names} <= allowed, (path, names)
