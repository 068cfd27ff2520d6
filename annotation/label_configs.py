"""Label-config templates built from parameters, and validation by Label Studio itself.

Each builder returns a :class:`~annotation.types.LabelConfig`: the XML plus the data keys a
task must carry. Builders check their parameters (``ValueError``); whether Label Studio
accepts the result is for :func:`validate_label_config` to say (``LabelConfigError``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from annotation.client import LabelStudioClient, error_message
from annotation.errors import LabelConfigError
from annotation.types import RESERVED_DATA_KEYS, LabelConfig

_DATA_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

TEXT_CLASSIFICATION = "text_classification"
NAMED_ENTITIES = "named_entities"
IMAGE_BOUNDING_BOXES = "image_bounding_boxes"
IMAGE_POLYGONS = "image_polygons"
SPEECH_TRANSCRIPTION = "speech_transcription"
VIDEO_OBJECT_TRACKING = "video_object_tracking"


def _check_key(data_key: str) -> str:
    if not _DATA_KEY.match(data_key or ""):
        raise ValueError(f"data key {data_key!r} must be an identifier (letters, digits, _)")
    if data_key in RESERVED_DATA_KEYS:
        raise ValueError(f"data key {data_key!r} is reserved for Qianbiao's bookkeeping")
    return data_key


def _check_labels(labels: Sequence[str], what: str = "labels") -> tuple[str, ...]:
    if isinstance(labels, str):
        raise ValueError(f"{what} must be a list of strings, not one string")
    cleaned = tuple(str(label).strip() for label in labels)
    if not cleaned:
        raise ValueError(f"at least one of {what} is needed")
    if any(not label for label in cleaned):
        raise ValueError(f"{what} may not be blank")
    duplicates = sorted({label for label in cleaned if cleaned.count(label) > 1})
    if duplicates:
        raise ValueError(f"{what} repeat: {duplicates}")
    return cleaned


def _xml(view: ET.Element) -> str:
    ET.indent(view, space="  ")
    return ET.tostring(view, encoding="unicode")


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, {key.rstrip("_"): value for key, value in attrs.items()})


def _labels(
    parent: ET.Element, tag: str, name: str, to_name: str, labels: Sequence[str], child: str = "Label"
):
    group = _sub(parent, tag, name=name, toName=to_name)
    for label in labels:
        _sub(group, child, value=label)
    return group


def text_classification(
    choices: Sequence[str], data_key: str = "text", multiple: bool = False
) -> LabelConfig:
    """Choose one (or several) of ``choices`` for a text."""
    key, choices = _check_key(data_key), _check_labels(choices, "choices")
    view = ET.Element("View")
    _sub(view, "Text", name=key, value=f"${key}")
    group = _sub(
        view, "Choices", name="label", toName=key, choice="multiple" if multiple else "single",
        showInline="true", required="true",
    )  # fmt: skip
    for choice in choices:
        _sub(group, "Choice", value=choice)
    return LabelConfig(TEXT_CLASSIFICATION, _xml(view), (key,), choices)


def named_entities(labels: Sequence[str], data_key: str = "text") -> LabelConfig:
    """Mark spans of a text with ``labels``."""
    key, labels = _check_key(data_key), _check_labels(labels)
    view = ET.Element("View")
    _labels(view, "Labels", "label", key, labels)
    _sub(view, "Text", name=key, value=f"${key}")
    return LabelConfig(NAMED_ENTITIES, _xml(view), (key,), labels)


def image_bounding_boxes(labels: Sequence[str], data_key: str = "image") -> LabelConfig:
    """Draw labelled rectangles on an image."""
    key, labels = _check_key(data_key), _check_labels(labels)
    view = ET.Element("View")
    _sub(view, "Image", name=key, value=f"${key}", zoom="true")
    _labels(view, "RectangleLabels", "label", key, labels)
    return LabelConfig(IMAGE_BOUNDING_BOXES, _xml(view), (key,), labels)


def image_polygons(labels: Sequence[str], data_key: str = "image") -> LabelConfig:
    """Draw labelled polygons on an image."""
    key, labels = _check_key(data_key), _check_labels(labels)
    view = ET.Element("View")
    _sub(view, "Image", name=key, value=f"${key}", zoom="true")
    _labels(view, "PolygonLabels", "label", key, labels)
    return LabelConfig(IMAGE_POLYGONS, _xml(view), (key,), labels)


def speech_transcription(data_key: str = "audio") -> LabelConfig:
    """Listen to a recording and type what is said."""
    key = _check_key(data_key)
    view = ET.Element("View")
    _sub(view, "Audio", name=key, value=f"${key}")
    _sub(
        view, "TextArea", name="transcription", toName=key, rows="4", editable="true",
        maxSubmissions="1", required="true",
    )  # fmt: skip
    return LabelConfig(SPEECH_TRANSCRIPTION, _xml(view), (key,))


def video_object_tracking(
    labels: Sequence[str], data_key: str = "video", frame_rate: float = 25.0
) -> LabelConfig:
    """Track labelled boxes across the frames of a video."""
    key, labels = _check_key(data_key), _check_labels(labels)
    if frame_rate <= 0:
        raise ValueError("frame_rate must be positive")
    view = ET.Element("View")
    _labels(view, "Labels", "label", key, labels)
    _sub(view, "Video", name=key, value=f"${key}", framerate=f"{frame_rate:g}")
    _sub(view, "VideoRectangle", name="box", toName=key)
    return LabelConfig(VIDEO_OBJECT_TRACKING, _xml(view), (key,), labels)


BUILDERS = {
    TEXT_CLASSIFICATION: text_classification,
    NAMED_ENTITIES: named_entities,
    IMAGE_BOUNDING_BOXES: image_bounding_boxes,
    IMAGE_POLYGONS: image_polygons,
    SPEECH_TRANSCRIPTION: speech_transcription,
    VIDEO_OBJECT_TRACKING: video_object_tracking,
}


def validate_label_config(client: LabelStudioClient, config: LabelConfig | str) -> None:
    """Asks Label Studio (``POST /api/projects/validate/``) whether it accepts the config.

    Raises :class:`LabelConfigError` with Label Studio's own messages when it does not.
    """
    xml = config.xml if isinstance(config, LabelConfig) else config
    response = client.request(
        "POST", "/api/projects/validate/", json={"label_config": xml}, expect=(200, 204, 400)
    )
    if response.status_code == 400:
        raise LabelConfigError(_config_messages(response))


def _config_messages(response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return [response.text[:500]]
    if isinstance(body, dict):
        errors = body.get("validation_errors") or body
        messages = errors.get("label_config")
        if messages:
            return [str(m) for m in (messages if isinstance(messages, list) else [messages])]
    return [error_message(body)]
