"""The first run tells the whole story: a fresh bin/run (small scale, its own Label
Studio, the demo on) in real Chromium. The province page shows the headcount against
the 20,000 target from the first page; within 5 minutes the work page shows
annotations the demo crowd made in Label Studio in at least three projects; a result
comes out of the enterprise API. Screenshots in test-artifacts/first-run/."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.browser import new_page, screenshot
from tests.test_run_script import REPO, _free_ports, _logins, _processes_with, _run_until_up, _stop

pytestmark = pytest.mark.integration
FOLDER = "first-run"


def _log_in(page, base: str, username: str, password: str, next_path: str) -> None:
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(re.escape(next_path) + "$"))


def _projects_with_work_today(page) -> dict[str, int]:
    page.locator('details[data-for="items-project"] > summary').first.click()
    table = page.locator('table[data-table="items-project"]')
    table.wait_for()
    names = [th.inner_text() for th in table.locator("thead th").all()][1:]
    last = table.locator("tbody tr").last
    values = [td.get_attribute("data-value") or "" for td in last.locator("td").all()][1:]
    return {n: int(v) for n, v in zip(names, values, strict=False) if v.isdigit() and int(v) > 0}


def test_a_fresh_start_shows_the_province_and_the_crowd_at_work(browser):
    port, pg_port, redis_port, ls_port = _free_ports(4)
    outside = Path(tempfile.mkdtemp(prefix="qianbiao-first-run-"))
    outside.chmod(0o711)
    var_dir = outside / "var"
    # PYTHONPATH passes through: a worktree sharing another checkout's editable venv points it here.
    names = ("PATH", "HOME", "LANG", "TERM", "PYTHONPATH")
    env = {name: os.environ[name] for name in names if name in os.environ}
    env.update(
        QIANBIAO_PORT=str(port), QIANBIAO_PG_PORT=str(pg_port), QIANBIAO_REDIS_PORT=str(redis_port),
        QIANBIAO_LS_PORT=str(ls_port), QIANBIAO_VAR_DIR=str(var_dir), QIANBIAO_SEED_ANNOTATORS="500",
        QIANBIAO_DEMO_ITEMS="40", QIANBIAO_DEMO_CROWD_RATE="240", QIANBIAO_SNAPSHOT_SECONDS="20",
        LABEL_STUDIO_VENV=os.environ.get("LABEL_STUDIO_VENV", str(REPO / "var/label-studio-venv")),
        LABEL_STUDIO_TEMPLATE_DIR=os.environ.get(
            "LABEL_STUDIO_TEMPLATE_DIR", str(REPO / "var/label-studio-template")
        ),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    run = _run_until_up(env, outside / "run.out")
    try:
        text = (outside / "run.out").read_text()
        assert "Label Studio on" in text and "crowd started" in text, text[-3000:]
        password = _logins(text)["pm"]
        page, errors = new_page(browser, viewport={"width": 1500, "height": 1000})
        _log_in(page, base, "pm", password, "/dashboards/")
        target = page.locator('[data-kpi="target"]').get_attribute("data-value")
        headcount = page.locator('[data-kpi="headcount"]').get_attribute("data-value")
        assert target == "20000" and int(headcount) > 0, (target, headcount)
        screenshot(page, FOLDER, "01-province")

        deadline = started + 300
        working: dict[str, int] = {}
        while time.monotonic() < deadline:
            page.goto(f"{base}/dashboards/work/")
            working = _projects_with_work_today(page)
            if len(working) >= 3:
                break
            time.sleep(15)
        screenshot(page, FOLDER, "02-work")
        assert len(working) >= 3, f"annotations in {working} after {time.monotonic() - started:.0f} s"

        dsn = f"postgresql://postgres@127.0.0.1:{pg_port}/qianbiao"
        with psycopg.connect(dsn, autocommit=True) as db:
            project_id, credit = db.execute(
                "SELECT p.id, e.credit_code FROM projects_datasetproject p JOIN enterprises_enterprise e"
                " ON e.id = p.client_id JOIN projects_item i ON i.project_id = p.id"
                " WHERE i.state = 'accepted' GROUP BY p.id, e.credit_code ORDER BY count(*) DESC LIMIT 1"
            ).fetchone() or (None, None)
        manage_env = {**env, "DATABASE_URL": dsn, "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
                      "CACHE_URL": f"redis://127.0.0.1:{redis_port}/1"}  # fmt: skip
        while project_id is None and time.monotonic() < deadline + 120:
            time.sleep(10)
            with psycopg.connect(dsn, autocommit=True) as db:
                project_id, credit = db.execute(
                    "SELECT p.id, e.credit_code FROM projects_datasetproject p JOIN enterprises_enterprise e"
                    " ON e.id = p.client_id JOIN projects_item i ON i.project_id = p.id"
                    " WHERE i.state = 'accepted' GROUP BY p.id, e.credit_code LIMIT 1"
                ).fetchone() or (None, None)
        assert project_id is not None, "no accepted result yet"
        key = subprocess.run(
            [str(REPO / ".venv/bin/python"), "manage.py", "issue_api_key", credit, "--name", "first run"],
            cwd=REPO, env=manage_env, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        request = urllib.request.Request(
            f"{base}/api/v1/projects/{project_id}/results?format=jsonl",
            headers={"Authorization": f"Token {key}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            lines = [json.loads(line) for line in response.read().decode().splitlines() if line.strip()]
        assert lines, "an accepted result through the API"
        print(f"up and working in {time.monotonic() - started:.0f} s; {working}; {len(lines)} results")
        assert not [e for e in errors if "/static/" in e], errors
    finally:
        code = _stop(run, str(var_dir))
        shutil.rmtree(outside, ignore_errors=True)
    assert code == 143
    assert _processes_with(f"QIANBIAO_VAR_DIR={var_dir}") == [], "bin/run left processes behind"
