"""The Label Studio adapter without a server: builders and parsing (its import
boundaries are contracts: tests/test_contracts.py)."""

from __future__ import annotations

import json

import pytest

from annotation import label_configs
from annotation.client import error_message
from annotation.errors import LabelStudioError, WebhookAuthError
from annotation.server import AdminCredentials, label_studio_environment
from annotation.types import TaskSpec
from annotation.webhooks import SECRET_HEADER, parse_webhook


@pytest.mark.parametrize(
    "build",
    [
        lambda: label_configs.text_classification([]),
        lambda: label_configs.text_classification("ab"),
        lambda: label_configs.named_entities(["a", "a"]),
        lambda: label_configs.named_entities(["a", " "]),
        lambda: label_configs.image_bounding_boxes(["a"], data_key="has space"),
        lambda: label_configs.image_polygons(["a"], data_key="route_to"),
        lambda: label_configs.speech_transcription(data_key="$audio"),
        lambda: label_configs.video_object_tracking(["a"], frame_rate=0),
    ],
)
def test_builders_refuse_bad_parameters(build):
    with pytest.raises(ValueError):
        build()


def test_builders_escape_labels_and_name_their_data_keys():
    config = label_configs.named_entities(['A&B "x" <y>'], data_key="body")
    assert "A&amp;B &quot;x&quot; &lt;y&gt;" in config.xml
    assert config.data_keys == ("body",) and config.kind == label_configs.NAMED_ENTITIES
    assert set(label_configs.BUILDERS) == {
        "text_classification",
        "named_entities",
        "image_bounding_boxes",
        "image_polygons",
        "speech_transcription",
        "video_object_tracking",
    }


def test_task_data_carries_our_keys_and_refuses_clashes():
    spec = TaskSpec(assignment_id=7, route_key=42, data={"text": "x"}, item_id="ext-1")  # type: ignore[arg-type]
    assert spec.task_data() == {"text": "x", "assignment_id": 7, "route_to": "42", "item_id": "ext-1"}
    with pytest.raises(ValueError):
        TaskSpec(assignment_id=1, route_key="r", data={"assignment_id": 2}).task_data()


PAYLOAD = {
    "action": "ANNOTATIONS_CREATED",
    "annotation": [
        {"id": 11, "task": 5, "completed_by": 3, "result": [], "lead_time": 2, "was_cancelled": False,
         "created_at": "2026-01-02T03:04:05.123456Z", "updated_at": "2026-01-02T03:04:05.123456Z"},
        {"id": 12, "task": 6, "completed_by": {"id": 4}, "result": [{"value": {}}], "was_cancelled": True},
    ],
    "task": [{"id": 5, "data": {"assignment_id": 50}}, {"id": 6, "data": {"assignment_id": 60}}],
    "project": {"id": 9, "token": "project-secret-token", "title": "p"},
}  # fmt: skip


def test_bulk_annotation_payload_parses_without_keeping_the_project_token():
    event = parse_webhook(json.dumps(PAYLOAD), {SECRET_HEADER.lower(): "s"}, secret="s")
    assert event.action == "ANNOTATIONS_CREATED" and event.project_id == 9
    assert [(a.id, a.task_id, a.assignment_id, a.completed_by) for a in event.annotations] == [
        (11, 5, 50, 3),
        (12, 6, 60, 4),
    ]
    assert event.annotations[0].created_at.year == 2026 and event.annotations[1].was_cancelled
    assert "project-secret-token" not in repr(event)


def test_deleted_and_task_payloads_parse():
    deleted = parse_webhook({"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}, {"id": 2}]})
    assert deleted.deleted_annotation_ids == (1, 2) and deleted.annotations == ()
    tasks = parse_webhook({"action": "TASKS_DELETED", "tasks": [{"id": 3}], "project": {"id": 4}})
    assert tasks.task_ids == (3,) and tasks.project_id == 4


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {"Other": "s"}])
def test_a_delivery_without_our_secret_is_refused(headers):
    with pytest.raises(WebhookAuthError):
        parse_webhook(json.dumps(PAYLOAD), headers, secret="s")


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"no": "action"}'])
def test_a_malformed_delivery_is_refused(body):
    with pytest.raises(LabelStudioError):
        parse_webhook(body)


def test_error_messages_keep_label_studios_words():
    body = {"id": "x", "status_code": 400, "detail": "Validation error",
            "validation_errors": {"title": ["Ensure this field has at least 3 characters."]}}  # fmt: skip
    assert error_message(body) == "title: Ensure this field has at least 3 characters."
    assert error_message(b'{"detail": "Not found."}') == "detail: Not found."


def test_label_studio_gets_none_of_our_secrets_or_plain_settings(tmp_path):
    ours = {"PATH": "/usr/bin", "HOME": "/root", "SECRET_KEY": "platform", "DATABASE_URL": "pg://x",
            "USERNAME": "u", "PASSWORD": "p", "PORT": "1", "HOST": "h", "DEBUG": "1", "REDIS_URL": "redis://",
            "LABEL_STUDIO_URL": "http://x", "DJANGO_SETTINGS_MODULE": "qianbiao.settings"}  # fmt: skip
    env = label_studio_environment(tmp_path, AdminCredentials(), base=ours)
    for name in ("SECRET_KEY", "DATABASE_URL", "USERNAME", "PASSWORD", "PORT", "HOST", "DEBUG", "REDIS_URL",
                 "LABEL_STUDIO_URL", "DJANGO_SETTINGS_MODULE"):  # fmt: skip
        assert name not in env
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str(tmp_path)
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["SSRF_PROTECTION_ENABLED"] == "true"
    assert env["QIANBIAO_LABEL_STUDIO_LOCKDOWN"] == "on"
    assert env["HOME"] == "/root"


def test_label_studio_gets_the_shared_secret_and_the_webhook_origin(tmp_path):
    ours = {"LABEL_STUDIO_QIANBIAO_SECRET": "s" * 32, "QIANBIAO_WEBHOOK_ORIGIN": "http://127.0.0.1:8000"}
    env = label_studio_environment(tmp_path, AdminCredentials(), base=ours)
    assert env["LABEL_STUDIO_QIANBIAO_SECRET"] == "s" * 32
    assert env["QIANBIAO_WEBHOOK_ORIGIN"] == "http://127.0.0.1:8000"
    unlocked = label_studio_environment(tmp_path, AdminCredentials(), base=ours, lockdown=False)
    assert unlocked["QIANBIAO_LABEL_STUDIO_LOCKDOWN"] == "off"


def test_routing_keys_and_handoff_tokens(monkeypatch):
    from annotation.signing import HandoffInvalid, handoff_token, read_handoff, route_key_for

    secret = "a-shared-secret-0123456789"
    assert route_key_for(7, secret) == route_key_for(7, secret) != route_key_for(8, secret)
    assert route_key_for(7, secret) != route_key_for(7, secret + "x")
    assert len(route_key_for(7, secret)) == 32
    token = handoff_token(7, 3, 11, secret, now=1000)
    claims = read_handoff(token, secret, now=1030)
    assert (claims.ls_user_id, claims.ls_project_id, claims.view_id, claims.expires_at) == (7, 3, 11, 1060)
    assert handoff_token(7, 3, 11, secret, now=1000) != token  # a fresh nonce each time
    with pytest.raises(HandoffInvalid, match="expired"):
        read_handoff(token, secret, now=1061)
    with pytest.raises(HandoffInvalid, match="signature"):
        read_handoff(token, secret + "x", now=1030)
    body, signature = token.split(".")
    with pytest.raises(HandoffInvalid):
        read_handoff(body[:-2] + "AA." + signature, secret, now=1030)
    with pytest.raises(ValueError):
        handoff_token(7, 3, 11, secret, now=1000, ttl=61)
