"""Label-config templates against Label Studio's own validation."""

from __future__ import annotations

import pytest

from annotation import label_configs
from annotation.errors import LabelConfigError, LabelStudioNotFound
from annotation.label_configs import validate_label_config
from annotation.projects import create_project, delete_project, get_project

pytestmark = pytest.mark.integration

TEMPLATES = {
    "text_classification": lambda: label_configs.text_classification(["正面", "负面", "中性"]),
    "text_classification_multiple": lambda: label_configs.text_classification(
        ["体育", "财经"], data_key="content", multiple=True
    ),
    "named_entities": lambda: label_configs.named_entities(["人名", "地名", "机构"]),
    "image_bounding_boxes": lambda: label_configs.image_bounding_boxes(["车辆", "行人"]),
    "image_polygons": lambda: label_configs.image_polygons(["道路", "建筑"], data_key="photo"),
    "speech_transcription": lambda: label_configs.speech_transcription(),
    "video_object_tracking": lambda: label_configs.video_object_tracking(["车辆", "行人"], frame_rate=30),
}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_each_template_validates_and_creates_a_project(ls_admin, name):
    config = TEMPLATES[name]()
    validate_label_config(ls_admin, config)
    created = create_project(ls_admin, f"template {name}", config, maximum_annotations=1)
    try:
        fetched = get_project(ls_admin, created.id)
        assert fetched.title == f"template {name}"
        assert fetched.maximum_annotations == 1
        for key in config.data_keys:
            assert f"${key}" in fetched.label_config
        for label in config.labels:
            assert label in fetched.label_config
    finally:
        delete_project(ls_admin, created.id)
    with pytest.raises(LabelStudioNotFound):
        get_project(ls_admin, created.id)


def test_labels_with_markup_characters_are_escaped(ls_admin):
    config = label_configs.named_entities(["A&B", '"quoted"', "<tag>", "贵州 & 黔"])
    validate_label_config(ls_admin, config)


def test_a_bad_config_raises_label_config_error_naming_the_problem(ls_admin):
    bad = (
        '<View><Text name="text" value="$text"/>'
        '<Choices name="label" toName="nowhere"><Choice value="a"/></Choices></View>'
    )
    with pytest.raises(LabelConfigError) as caught:
        validate_label_config(ls_admin, bad)
    assert "nowhere" in str(caught.value)
    assert caught.value.messages


def test_create_project_refuses_a_bad_config_before_creating_anything(ls_admin):
    before = ls_admin.get_json("/api/projects/")["count"]
    with pytest.raises(LabelConfigError) as caught:
        create_project(ls_admin, "never created", '<View><Text name="text" value="$text"</View>')
    assert caught.value.messages
    assert ls_admin.get_json("/api/projects/")["count"] == before


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ('<View><Text name="t" value="$t"/><Choices name="c" toName="t"></Choices></View>', "Choice"),
        (
            '<View><Text name="t" value="$t"/><Text name="t" value="$u"/>'
            '<Choices name="c" toName="t"><Choice value="a"/></Choices></View>',
            "non-unique names",
        ),
        ("", "blank"),
    ],
    ids=["choices-without-choice", "duplicate-names", "empty"],
)
def test_label_studio_names_the_problem(ls_admin, config, words):
    with pytest.raises(LabelConfigError) as caught:
        validate_label_config(ls_admin, config)
    assert words in str(caught.value)
