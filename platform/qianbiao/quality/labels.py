"""From Label Studio results to what quality control compares, and back.

An annotation's ``result`` is Label Studio's list of regions, e.g.
``[{"from_name": "label", "to_name": "image", "type": "rectanglelabels",
"value": {"x": 10, "y": 20, "width": 30, "height": 15, "rectanglelabels": ["car"]}}]``.
Quality control compares plain values instead: a class name, a list of shapes,
a transcription. Results go back to clients in Label Studio's form, so that they
load into Label Studio or any tool that reads its JSON export.

Gold answers are accepted in Label Studio's form too (a client exporting gold
from a Label Studio project), or in a short form: ``{"label": "car"}`` or
``{"choices": [...]}``, ``{"boxes": [{"x", "y", "width", "height", "label"}]}``,
``{"polygons": [{"points": [[x, y], ...], "label"}]}``,
``{"spans": [{"start", "end", "label", "text"}]}``, ``{"text": "..."}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .geometry import Box, Polygon, Shape, Span

CLASSIFICATION = "text_classification"
NAMED_ENTITIES = "named_entities"
BOUNDING_BOX = "bounding_box"
POLYGON = "polygon"
TRANSCRIPTION = "transcription"
VIDEO_TRACKING = "video_tracking"

OBJECT_TYPES = (NAMED_ENTITIES, BOUNDING_BOX, POLYGON)

_REGION_TYPE = {
    CLASSIFICATION: "choices",
    NAMED_ENTITIES: "labels",
    BOUNDING_BOX: "rectanglelabels",
    POLYGON: "polygonlabels",
    TRANSCRIPTION: "textarea",
}
_DEFAULT_NAMES = {
    CLASSIFICATION: ("label", "text"),
    NAMED_ENTITIES: ("label", "text"),
    BOUNDING_BOX: ("label", "image"),
    POLYGON: ("label", "image"),
    TRANSCRIPTION: ("transcription", "audio"),
}


class UnsupportedTaskType(ValueError):
    pass


@dataclass(frozen=True)
class RegionNames:
    """Where a region lives in the label config: carried over to results."""

    from_name: str
    to_name: str


def _regions(result: Any, region_type: str) -> list[Mapping[str, Any]]:
    if not isinstance(result, list):
        return []
    return [r for r in result if isinstance(r, Mapping) and r.get("type") == region_type]


def region_names(task_type: str, results: Iterable[Any]) -> RegionNames:
    """The from/to names the annotators' regions used, or the template's defaults."""
    region_type = _REGION_TYPE.get(task_type)
    for result in results:
        for region in _regions(result, region_type or ""):
            if region.get("from_name") and region.get("to_name"):
                return RegionNames(str(region["from_name"]), str(region["to_name"]))
    default = _DEFAULT_NAMES.get(task_type, ("label", "data"))
    return RegionNames(*default)


def _first_label(value: Mapping[str, Any], key: str) -> str:
    labels = value.get(key) or value.get("labels") or []
    if isinstance(labels, str):
        return labels
    return str(labels[0]) if labels else ""


def _box_or_polygon(value: Mapping[str, Any], label: str) -> Shape:
    x, y = float(value.get("x", 0)), float(value.get("y", 0))
    w, h = float(value.get("width", 0)), float(value.get("height", 0))
    rotation = float(value.get("rotation", 0) or 0)
    if not rotation:
        return Box.from_xywh(x, y, w, h, label)
    # Label Studio rotates a rectangle about its top-left corner.
    c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    corners = ((0.0, 0.0), (w, 0.0), (w, h), (0.0, h))
    return Polygon(tuple((x + dx * c - dy * s, y + dx * s + dy * c) for dx, dy in corners), label)


def classification_label(result: Any) -> str:
    """The chosen class; several choices (multi-select) become one "a|b" class."""
    for region in _regions(result, "choices"):
        choices = region.get("value", {}).get("choices") or []
        return "|".join(sorted(str(c) for c in choices))
    return ""


def objects(task_type: str, result: Any) -> list[Shape]:
    shapes: list[Shape] = []
    if task_type == BOUNDING_BOX:
        for region in _regions(result, "rectanglelabels"):
            value = region.get("value", {})
            shapes.append(_box_or_polygon(value, _first_label(value, "rectanglelabels")))
    elif task_type == POLYGON:
        for region in _regions(result, "polygonlabels"):
            value = region.get("value", {})
            points = tuple((float(p[0]), float(p[1])) for p in value.get("points", []))
            shapes.append(Polygon(points, _first_label(value, "polygonlabels")))
    elif task_type == NAMED_ENTITIES:
        for region in _regions(result, "labels"):
            value = region.get("value", {})
            shapes.append(
                Span(
                    int(value["start"]),
                    int(value["end"]),
                    _first_label(value, "labels"),
                    value.get("text", ""),
                )
            )
    else:
        raise UnsupportedTaskType(task_type)
    return shapes


def transcription(result: Any) -> str:
    for region in _regions(result, "textarea"):
        text = region.get("value", {}).get("text") or []
        return "\n".join(str(t) for t in text) if isinstance(text, list) else str(text)
    return ""


def comparable(task_type: str, result: Any) -> Any:
    """An annotation's result as quality control compares it."""
    if task_type == CLASSIFICATION:
        return classification_label(result)
    if task_type in OBJECT_TYPES:
        return objects(task_type, result)
    if task_type == TRANSCRIPTION:
        return transcription(result)
    raise UnsupportedTaskType(task_type)


def gold_comparable(task_type: str, gold: Any) -> Any:
    """A gold answer, in Label Studio's form or the short form, as quality control compares it."""
    if isinstance(gold, Mapping) and isinstance(gold.get("result"), list):
        gold = gold["result"]
    if isinstance(gold, list):
        return comparable(task_type, gold)
    if not isinstance(gold, Mapping):
        if task_type == CLASSIFICATION and isinstance(gold, str):
            return gold
        if task_type == TRANSCRIPTION and isinstance(gold, str):
            return gold
        raise ValueError(f"cannot read gold answer {gold!r} for {task_type}")
    if task_type == CLASSIFICATION:
        if "choices" in gold:
            return "|".join(sorted(str(c) for c in gold["choices"]))
        return str(gold["label"])
    if task_type == TRANSCRIPTION:
        return str(gold["text"])
    if task_type == BOUNDING_BOX:
        return [_box_or_polygon(b, str(b.get("label", ""))) for b in gold.get("boxes", [])]
    if task_type == POLYGON:
        return [
            Polygon(tuple((float(x), float(y)) for x, y in p["points"]), str(p.get("label", "")))
            for p in gold.get("polygons", [])
        ]
    if task_type == NAMED_ENTITIES:
        return [
            Span(int(s["start"]), int(s["end"]), str(s.get("label", "")), str(s.get("text", "")))
            for s in gold.get("spans", [])
        ]
    raise UnsupportedTaskType(task_type)


def _r(v: float) -> float:
    return round(float(v), 4)


def to_result(task_type: str, value: Any, names: RegionNames) -> list[dict[str, Any]]:
    """A compared value back in Label Studio's result form."""
    base = {"from_name": names.from_name, "to_name": names.to_name}
    if task_type == CLASSIFICATION:
        if value == "":
            return []
        return [{**base, "type": "choices", "value": {"choices": str(value).split("|")}}]
    if task_type == TRANSCRIPTION:
        return [{**base, "type": "textarea", "value": {"text": [str(value)]}}]
    if task_type in OBJECT_TYPES:
        return [_shape_region(shape, base) for shape in value]
    raise UnsupportedTaskType(task_type)


def _shape_region(shape: Shape, base: Mapping[str, str]) -> dict[str, Any]:
    if isinstance(shape, Box):
        value = {
            "x": _r(shape.x1),
            "y": _r(shape.y1),
            "width": _r(shape.x2 - shape.x1),
            "height": _r(shape.y2 - shape.y1),
            "rotation": 0,
            "rectanglelabels": [shape.label],
        }
        return {**base, "type": "rectanglelabels", "value": value}
    if isinstance(shape, Polygon):
        value = {"points": [[_r(x), _r(y)] for x, y in shape.points], "polygonlabels": [shape.label]}
        return {**base, "type": "polygonlabels", "value": value}
    value = {"start": shape.start, "end": shape.end, "text": shape.text, "labels": [shape.label]}
    return {**base, "type": "labels", "value": value}
