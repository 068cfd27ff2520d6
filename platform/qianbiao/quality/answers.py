"""The annotations quality control compares: the counted ones, the latest per
annotator and item (read by decisions.py and review.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from qianbiao.projects.models import DatasetProject

from . import labels as L
from .selectors import counted_annotations

# Task types quality control can compare (consensus, gold marking, review agreement).
COMPARABLE_TYPES = (L.CLASSIFICATION, *L.OBJECT_TYPES, L.TRANSCRIPTION)


@dataclass(frozen=True)
class Answer:
    annotation_id: int
    annotator_id: int
    result: Any


def answers_by_item(item_ids: Sequence[int]) -> dict[int, list[Answer]]:
    """Counted annotations per item, the latest per annotator."""
    out: dict[int, dict[int, Answer]] = defaultdict(dict)
    for pk, item_id, annotator_id, result in (
        counted_annotations(item_id__in=list(item_ids))
        .order_by("item_id", "annotator_id", "pk")
        .values_list("pk", "item_id", "annotator_id", "result")
    ):
        out[item_id][annotator_id] = Answer(pk, annotator_id, result)
    return {item_id: list(by_annotator.values()) for item_id, by_annotator in out.items()}


def answers_region_names(project: DatasetProject, answers: Iterable[Answer]) -> L.RegionNames:
    return L.region_names(project.task_type, (a.result for a in answers))
