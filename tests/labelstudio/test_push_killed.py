"""A push to Label Studio that is really killed (SIGKILL of ``manage.py push_label_studio``'s
process group: no finally, no unlock, no rollback sent) half-way, and run again, leaves
exactly one Label Studio task per assignment, and the task ids recorded here are Label Studio's.

The pushes run as subprocesses against the test database (committed data: ``transaction=True``)
and the session's real Label Studio. Two kinds of kill:

- at a random moment once Label Studio holds some of the tasks (seeded: the seed is printed,
  ``QIANBIAO_TEST_SEED`` replays it);
- at the dangerous point, deterministically: the test holds a row lock on one assignment
  ahead, so the push blocks exactly when it writes that batch's task ids, after Label Studio
  imported it; killed there, it leaves tasks in Label Studio that we never recorded.

The push run again must find those tasks instead of importing them a second time. Run with
``-s`` to see where each kill landed.
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import override

from annotation.projects import delete_project, get_project
from annotation.tasks import find_tasks, iter_tasks
from qianbiao.labelling import push, selectors
from qianbiao.labelling.accounts import annotators_provision_label_studio
from qianbiao.labelling.push import assignments_push
from qianbiao.labelling.shards import project_provision_label_studio
from qianbiao.projects.models import Assignment, AssignmentState, Item
from tests.factories import AnnotatorFactory, DatasetProjectFactory
from tests.integration.celery_harness import REPO, wait_until, worker_database_url
from tests.labelstudio.conftest import TEXT_CONFIG, make_work

pytestmark = pytest.mark.integration

ITEMS = 3000  # one assignment each
BATCH = 100  # 30 import calls: plenty of room to land a kill in the middle
SHARD_TASKS = 1000  # three Label Studio projects: the re-run must look in every one
ANNOTATORS = 8
PUSH_TIMEOUT = 300  # seconds any one wait may take before the test gives up
# The pushes' sessions: an application_name lets the test see when the server has ended one;
# client_connection_check_interval makes the server notice a dead client even while its
# statement waits for a lock (as a deployment should set it), instead of when it is granted.
SESSION_OPTIONS = {"options": "-c client_connection_check_interval=100"}


# --------------------------------------------------------------------------- helpers


def make_many(*, items: int, annotators: int):
    """A text project with ``items`` items, one open assignment each, round-robin (bulk)."""
    project = DatasetProjectFactory(task_type="text_classification", label_config=TEXT_CONFIG, overlap=1)
    people = [AnnotatorFactory() for _ in range(annotators)]
    made = Item.objects.bulk_create(
        [Item(project=project, external_id=f"ext-{i}", data={"text": f"第 {i} 句"}) for i in range(items)]
    )
    now = timezone.now()
    Assignment.objects.bulk_create(
        [
            Assignment(
                project=project,
                item=item,
                annotator=people[i % annotators],
                slot=0,
                assigned_at=now,
                expires_at=now + dt.timedelta(hours=24),
            )
            for i, item in enumerate(made)
        ]
    )
    ids = list(Assignment.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    return project, ids


def provision_one_by_one(annotator_ids) -> None:
    """Label Studio accounts made one at a time, before a push: several sign-ups at once
    sometimes get HTTP 500 "database is locked" from the SQLite of the test's Label Studio."""
    for annotator_id in sorted(set(annotator_ids)):
        annotators_provision_label_studio(annotator_ids=[annotator_id])


class Push:
    """``python manage.py push_label_studio`` in a process group of its own, on the test
    database and the test's Label Studio; stdout and stderr go to files."""

    def __init__(self, name: str, *, project_id: int, batch_size: int, settings, log_dir: Path):
        self.app_name = f"qianbiao-test-push-{os.getpid()}-{name}"
        self.out = log_dir / f"{name}.out"
        self.err = log_dir / f"{name}.err"
        self.argv = [
            sys.executable,
            "manage.py",
            "push_label_studio",
            "--project",
            str(project_id),
            "--batch-size",
            str(batch_size),
        ]
        session = urlencode({**SESSION_OPTIONS, "application_name": self.app_name})
        self.env = {
            **os.environ,
            "DATABASE_URL": f"{worker_database_url()}?{session}",
            "LABEL_STUDIO_URL": settings.LABEL_STUDIO_URL,
            "LABEL_STUDIO_API_KEY": settings.LABEL_STUDIO_API_KEY,
            "LABEL_STUDIO_WEBHOOK_SECRET": settings.LABEL_STUDIO_WEBHOOK_SECRET,
            "LABEL_STUDIO_WEBHOOK_URL": settings.LABEL_STUDIO_WEBHOOK_URL,
            "LABEL_STUDIO_SHARD_TASKS": str(settings.LABEL_STUDIO_SHARD_TASKS),
            # The test itself waits until Label Studio's task count stops moving after a
            # kill (ls_settled_count) — what the settle time stands in for in production.
            "LABEL_STUDIO_PUSH_SETTLE_SECONDS": str(settings.LABEL_STUDIO_PUSH_SETTLE_SECONDS),
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> Push:
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.process = subprocess.Popen(
                self.argv, cwd=REPO, env=self.env, stdout=out, stderr=err, start_new_session=True
            )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL the whole process group: no finally, no unlock, no rollback sent."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def log_tail(self, chars: int = 4000) -> str:
        text = f"stdout:\n{self.output()[-chars:]}\nstderr:\n{self.err.read_text(errors='replace')[-chars:]}"
        return f"{' '.join(self.argv)} (exit {self.process.poll() if self.process else None})\n{text}"

    def session_gone(self) -> bool:
        """The PostgreSQL server has ended every session of this process (and with them its
        advisory lock and any open transaction)."""
        return not sessions(self.app_name)


def sessions(app_name: str, *, blocked_by_us: bool = False) -> int:
    """The server's sessions of one push process (those waiting for a lock we hold)."""
    sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    if blocked_by_us:
        sql += " AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
    with connection.cursor() as cursor:
        # Inside a transaction the server would keep answering from its first snapshot.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(sql, [app_name])
        return cursor.fetchone()[0]


def push_lock_held(project_id: int) -> bool:
    """Someone holds the project's push lock (``pg_try_advisory_lock(ns, project_id)``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s AND objid = %s AND objsubid = 2",
            [push._LOCK_NAMESPACE, project_id],
        )
        return cursor.fetchone()[0] > 0


def ls_task_count(admin, project_id: int) -> int:
    """Tasks Label Studio holds for the project, over every shard (its own counter)."""
    return sum(
        get_project(admin, s.ls_project_id).task_count
        for s in selectors.project_shards(project_id=project_id)
    )


def ls_settled_count(admin, project_id: int, *, quiet: float = 1.5) -> int:
    """The task count once it has stopped moving for ``quiet`` seconds: an import the killed
    process had sent may still be committing inside Label Studio."""
    last, since = ls_task_count(admin, project_id), time.monotonic()
    deadline = since + PUSH_TIMEOUT
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "Label Studio's task count never settled"
        time.sleep(0.1)
        now = ls_task_count(admin, project_id)
        if now != last:
            last, since = now, time.monotonic()
    return last


def ls_tasks(admin, project_id: int) -> list[tuple[int, int]]:
    """(assignment id, task id) of every Label Studio task of the project, over every shard."""
    return [
        (int(task.data["assignment_id"]), task.id)
        for shard in selectors.project_shards(project_id=project_id)
        for task in iter_tasks(admin, shard.ls_project_id)
    ]


def db_state(project_id: int) -> dict[str, int]:
    pushed = Assignment.objects.filter(project_id=project_id, ls_task_id__isnull=False)
    shards = selectors.project_shards(project_id=project_id)
    return {
        "recorded": pushed.count(),
        "max_recorded_id": max(pushed.values_list("id", flat=True), default=0),
        "mark": max((s.pushed_through_assignment_id for s in shards), default=0),
    }


_T0 = [time.monotonic()]


def note(message: str) -> None:
    """The test's log of where the kills landed (shown with ``-s``)."""
    print(f"[push killed +{time.monotonic() - _T0[0]:5.1f} s] {message}", flush=True)  # noqa: T201


def describe_kill(admin, project_id: int, *, wanted: str) -> dict:
    """Where a kill landed, once the server dropped the session and Label Studio settled."""
    state = {"ls_tasks": ls_settled_count(admin, project_id), **db_state(project_id)}
    state["unrecorded_in_ls"] = state["ls_tasks"] - state["recorded"]
    if state["unrecorded_in_ls"] > 0:
        where = "after Label Studio imported a batch, before Qianbiao recorded its task ids"
    elif state["mark"] > state["max_recorded_id"]:
        where = "after the mark was raised, before Label Studio committed the import"
    else:
        where = "between batches (everything sent was recorded)"
    state["where"] = where
    note(f"{wanted}: {state}")
    return state


# --------------------------------------------------------------------------- the command


@pytest.mark.django_db
@override("en")
def test_command_refuses_an_unknown_project_and_bad_sizes():
    with pytest.raises(CommandError, match="no dataset project with id 987654"):
        call_command("push_label_studio", project=987654)
    project = DatasetProjectFactory(task_type="text_classification", label_config=TEXT_CONFIG)
    with pytest.raises(CommandError, match="--batch-size must be a positive"):
        call_command("push_label_studio", project=project.pk, batch_size=0)
    with pytest.raises(CommandError, match="--limit must be a positive"):
        call_command("push_label_studio", project=project.pk, limit=-1)
    # Another session holds the project's push lock: refused, not waited for.
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [push._LOCK_NAMESPACE, project.pk])
        with pytest.raises(CommandError, match="Another push of project"):
            call_command("push_label_studio", project=project.pk)
    finally:
        other.close()
    # From the shell: the message on stderr and a non-zero exit.
    done = subprocess.run(
        [sys.executable, "manage.py", "push_label_studio", "--project", "987654"],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": worker_database_url()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "987654" in done.stderr and not done.stdout


@pytest.mark.django_db
def test_command_pushes_and_prints_the_outcome(ls_settings, ls_admin):
    project, people, assignments = make_work(annotators=2, items=5)
    provision_one_by_one(p.pk for p in people)
    out = io.StringIO()
    call_command("push_label_studio", project=project.pk, limit=3, batch_size=2, stdout=out)
    assert out.getvalue().split() == [
        f"project={project.pk}",
        "pushed=3",
        "created=3",
        "found_existing=0",
        "skipped=0",
        "batches=2",
        "more_pending=yes",
        "deferred=no",
    ]
    out = io.StringIO()
    call_command("push_label_studio", project=project.pk, stdout=out)
    assert "pushed=2 created=2" in out.getvalue() and "more_pending=no" in out.getvalue()
    assert sorted(a for a, _ in ls_tasks(ls_admin, project.pk)) == sorted(x.pk for x in assignments)


# --------------------------------------------------------------------------- killed for real


class RerunFailed(AssertionError):
    """The push run again after the kills did not finish (non-zero exit)."""


class Scenario:
    """One project of ``items`` open assignments, and the pushes run (and killed) on it."""

    def __init__(self, *, items: int, batch_size: int, shard_tasks: int, settings, admin, log_dir: Path):
        _T0[0] = time.monotonic()
        settings.LABEL_STUDIO_SHARD_TASKS = shard_tasks  # here and in the pushes' environment
        self.items, self.batch_size, self.settings, self.admin = items, batch_size, settings, admin
        self.log_dir = log_dir
        self.project, self.ids = make_many(items=items, annotators=ANNOTATORS)
        project_provision_label_studio(project_id=self.project.pk)
        # The accounts first: the kills are to land in the push proper.
        provision_one_by_one(self.assignments().values_list("annotator_id", flat=True))
        self.pushes: list[Push] = []
        note(f"{items} open assignments made, pushing in batches of {batch_size}, {shard_tasks} per shard")

    def assignments(self):
        return Assignment.objects.filter(project=self.project)

    def push(self, name: str) -> Push:
        self.pushes.append(
            Push(
                name,
                project_id=self.project.pk,
                batch_size=self.batch_size,
                settings=self.settings,
                log_dir=self.log_dir,
            )
        )
        return self.pushes[-1].start()

    def gone(self, p: Push) -> None:
        """Waits until the server has dropped the killed process's session and its lock."""
        wait_until(p.session_gone, timeout=60, interval=0.05, what=f"the server to end {p.app_name}")
        assert not push_lock_held(self.project.pk), "the push lock outlived the killed push's session"

    def kill_at_random(self, rng: random.Random) -> dict:
        """Kills a push at a random moment once Label Studio holds some of the tasks."""
        threshold = rng.randint(1, self.items * 2 // 5)
        delay = rng.uniform(0.0, 0.4)
        p = self.push(f"push-{len(self.pushes) + 1}")

        def reached():
            if not p.running():
                raise AssertionError(f"the push ended before it could be killed:\n{p.log_tail()}")
            return ls_task_count(self.admin, self.project.pk) >= threshold

        wait_until(reached, timeout=PUSH_TIMEOUT, interval=0.02, what=f"{threshold} tasks in Label Studio")
        note(f"Label Studio holds >= {threshold} tasks; killing in {delay:.2f} s")
        time.sleep(delay)
        assert p.running(), f"the push finished before the kill (sizes too small?):\n{p.log_tail()}"
        p.kill9()
        self.gone(p)
        state = describe_kill(
            self.admin, self.project.pk, wanted=f"killed at >= {threshold} tasks + {delay:.2f} s"
        )
        assert 0 < state["ls_tasks"] < self.items, "the kill did not land half-way"
        return state

    def kill_while_recording(self, target: int) -> dict:
        """Kills a push exactly between Label Studio's import and our record of it: a row
        lock on assignment ``target`` stops the push when it writes the task ids of that
        batch, which Label Studio has imported by then."""
        with transaction.atomic():
            Assignment.objects.select_for_update().filter(pk=target).get()
            p = self.push(f"push-{len(self.pushes) + 1}")

            def blocked_on_us():
                if not p.running():
                    raise AssertionError(f"the push ended before it blocked:\n{p.log_tail()}")
                return sessions(p.app_name, blocked_by_us=True)

            wait_until(
                blocked_on_us, timeout=PUSH_TIMEOUT, interval=0.02, what="the push to block on our lock"
            )
            shard_ids = [s.ls_project_id for s in selectors.project_shards(project_id=self.project.pk)]
            in_ls = any(find_tasks(self.admin, ls_id, [target]) for ls_id in shard_ids)
            assert in_ls, f"the push blocked on assignment {target} before Label Studio had its task"
            note(f"the push is blocked recording the batch of assignment {target}")
            p.kill9()
            # Still holding our lock: the server ends the dead push's waiting session by itself.
            self.gone(p)
        state = describe_kill(self.admin, self.project.pk, wanted=f"killed recording assignment {target}")
        assert state["unrecorded_in_ls"] > 0, "the kill should leave tasks in Label Studio we never recorded"
        assert not self.assignments().filter(pk=target, ls_task_id__isnull=False).exists()
        assert state["recorded"] < self.items
        return state

    def run_to_the_end(self, before: dict) -> None:
        """Runs the push again to completion: it finds what Label Studio has, creates the rest."""
        note("running the push again")
        p = self.push(f"push-{len(self.pushes) + 1}")
        if p.wait(timeout=PUSH_TIMEOUT) != 0:
            raise RerunFailed(p.log_tail())
        line = p.output().strip().splitlines()[-1]
        note(f"run again: {line}")
        outcome = dict(re.findall(r"(\w+)=(\w+)", line))
        assert outcome["pushed"] == str(self.items - before["recorded"]), line
        assert outcome["found_existing"] == str(before["unrecorded_in_ls"]), line
        assert outcome["created"] == str(self.items - before["ls_tasks"]), line
        assert outcome["more_pending"] == "no", line

    def assert_one_task_per_assignment(self) -> None:
        assert not selectors.assignments_unpushed(project_id=self.project.pk).exists()
        assert not self.assignments().filter(state=AssignmentState.OPEN, ls_task_id__isnull=True).exists()
        in_ls = ls_tasks(self.admin, self.project.pk)
        note(f"checking {len(in_ls)} Label Studio tasks")
        per_assignment = collections.Counter(a for a, _ in in_ls)
        duplicated = {a: n for a, n in per_assignment.items() if n > 1}
        missing = set(self.ids) - set(per_assignment)
        stray = set(per_assignment) - set(self.ids)
        assert not duplicated, f"{len(duplicated)} assignments have several tasks: {sorted(duplicated)[:20]}"
        assert not missing, f"{len(missing)} assignments have no task: {sorted(missing)[:20]}"
        assert not stray, f"tasks for assignments that are not ours: {sorted(stray)[:20]}"
        assert len(in_ls) == self.items == ls_task_count(self.admin, self.project.pk)
        assert dict(self.assignments().values_list("id", "ls_task_id")) == dict(in_ls)
        # Each shard's size and task-id bounds (which route a task to its shard) are Label Studio's.
        for shard in selectors.project_shards(project_id=self.project.pk):
            task_ids = [task.id for task in iter_tasks(self.admin, shard.ls_project_id)]
            assert shard.task_count == len(task_ids), shard
            assert (shard.min_ls_task_id, shard.max_ls_task_id) == (min(task_ids), max(task_ids)), shard
        # And one more run has nothing left to do.
        again = assignments_push(project_id=self.project.pk, batch_size=self.batch_size)
        assert (again.pushed, again.created, again.locked_out) == (0, 0, False)
        note("done")

    def close(self) -> None:
        for p in self.pushes:
            p.kill9()
        for shard in selectors.project_shards(project_id=self.project.pk):
            delete_project(self.admin, shard.ls_project_id)


@pytest.fixture
def scenario(ls_settings, ls_admin, tmp_path):
    # Every re-run follows ls_settled_count, which waits for Label Studio itself.
    ls_settings.LABEL_STUDIO_PUSH_SETTLE_SECONDS = 0
    made: list[Scenario] = []

    def make(*, items: int, batch_size: int, shard_tasks: int = 100_000) -> Scenario:
        made.append(
            Scenario(
                items=items,
                batch_size=batch_size,
                shard_tasks=shard_tasks,
                settings=ls_settings,
                admin=ls_admin,
                log_dir=tmp_path,
            )
        )
        return made[-1]

    yield make
    for s in made:
        s.close()


@pytest.mark.django_db(transaction=True)
def test_a_push_killed_twice_for_real_and_run_again_leaves_one_task_per_assignment(scenario):
    seed = int(os.environ.get("QIANBIAO_TEST_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    run = scenario(items=ITEMS, batch_size=BATCH, shard_tasks=SHARD_TASKS)
    note(f"seed {seed} (QIANBIAO_TEST_SEED={seed} replays it)")
    run.kill_at_random(rng)
    # The second kill at least three batches past where the first one stopped.
    unpushed = list(selectors.assignments_unpushed(project_id=run.project.pk).values_list("id", flat=True))
    state = run.kill_while_recording(unpushed[rng.randint(3 * BATCH, len(unpushed) - 3 * BATCH)])
    run.run_to_the_end(state)
    run.assert_one_task_per_assignment()
    assert len(selectors.project_shards(project_id=run.project.pk)) == ITEMS // SHARD_TASKS


@pytest.mark.django_db(transaction=True)
def test_a_push_killed_at_the_default_batch_size_runs_again(scenario):
    """The same at the production batch size (LABEL_STUDIO_PUSH_BATCH, 1,000): the re-run
    has to look a whole batch up in Label Studio."""
    run = scenario(items=3500, batch_size=1000)
    state = run.kill_while_recording(run.ids[1500])  # in the second batch
    run.run_to_the_end(state)
    run.assert_one_task_per_assignment()
