"""A real Label Studio for the adapter's integration tests, started once per session from
the data-dir template on a free port in 58100–58199 (``python -m annotation.server``)."""

from __future__ import annotations

import itertools
import os

import pytest

from annotation import server
from annotation.accounts import invite_token, register_annotator
from annotation.client import connect
from annotation.label_configs import text_classification
from annotation.projects import create_project, delete_project
from tests.integration.celery_harness import app_on_broker, broker_url, worker_starter

PORTS = (
    int(os.environ.get("QIANBIAO_TEST_LS_PORT_MIN", "58100")),
    int(os.environ.get("QIANBIAO_TEST_LS_PORT_MAX", "58199")),
)


# Label Studio's SSRF guard is on, with exact exceptions for Qianbiao's webhook receiver
# (QIANBIAO_WEBHOOK_ORIGIN): the closed port tests register by default, and the live
# server, pinned for the session so that Label Studio knows its origin before it starts.
if not os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS"):
    os.environ["DJANGO_LIVE_TEST_SERVER_ADDRESS"] = f"localhost:{server.free_port(58300, 58399)}"
# A test's own webhook receiver listens here (one at a time).
WEBHOOK_RECEIVER_PORT = server.free_port(58400, 58499)
WEBHOOK_ORIGINS = ",".join(
    [
        "http://127.0.0.1:9",
        f"http://{os.environ['DJANGO_LIVE_TEST_SERVER_ADDRESS']}",
        f"http://127.0.0.1:{WEBHOOK_RECEIVER_PORT}",
    ]
)


def start_label_studio(data_dir, *, lockdown: bool = True) -> server.LabelStudioServer:
    """A started server from the template, locked down unless told (tests of the difference)."""
    server.ensure_template()  # installs Label Studio too, when bin/test did not already
    instance = server.server_from_template(server.free_port(*PORTS), data_dir, lockdown=lockdown)
    instance.extra_env["QIANBIAO_WEBHOOK_ORIGIN"] = WEBHOOK_ORIGINS
    return instance.start()


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    """The running server (``.url``, ``.token``); stopped and its data dir removed at the end."""
    instance = start_label_studio(tmp_path_factory.mktemp("label-studio") / "data")
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def ls_admin(label_studio):
    with connect(label_studio.url, label_studio.token) as client:
        yield client


@pytest.fixture(scope="session")
def ls_invite(label_studio):
    with connect(label_studio.url, label_studio.token) as client:
        return invite_token(client)


_serial = itertools.count(1)


@pytest.fixture
def ls_annotator(label_studio, ls_invite):
    """Registers a new annotator (own token) and returns (login, client)."""
    clients = []

    def make(name: str | None = None):
        email = f"{name or 'annotator'}-{os.getpid()}-{next(_serial)}@annotators.qianbiao.test"
        login = register_annotator(label_studio.url, ls_invite, email, "test-password-8chars")
        client = connect(label_studio.url, login.token)
        clients.append(client)
        return login, client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def ls_project(ls_admin):
    """A fresh text-classification project (data key ``text``), deleted afterwards."""
    created = create_project(ls_admin, f"test project {next(_serial)}", text_classification(["正面", "负面"]))
    yield created
    delete_project(ls_admin, created.id)


@pytest.fixture
def broker():
    """This process's Celery app pointed at a Redis database of our own, emptied."""
    url = broker_url()
    if not url:
        pytest.skip("needs the Redis that bin/test starts (REDIS_URL)")
    with app_on_broker(url) as pointed:
        yield pointed


@pytest.fixture
def start_worker(transactional_db, broker, tmp_path):
    """Starts real worker processes; every one is stopped at the end, before
    the test database is flushed."""
    with worker_starter(broker.app, tmp_path) as start:
        yield start
