"""Per-item consensus and gold marking for the task types that need no fitted
model (objects and transcriptions), and the annotator quality score. Pure
functions on the values of :mod:`qianbiao.quality.labels`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import labels as L
from .geometry import exact_match, objects_consensus, similarity
from .intervals import smoothed_rate
from .text import medoid_consensus, text_distance


@dataclass(frozen=True)
class ItemConsensus:
    value: Any  # comparable form (labels.comparable)
    agreement: float
    per_annotation: tuple[float, ...]  # each annotation's similarity to the consensus, in [0, 1]
    method: str  # a ResultMethod value


def item_consensus(task_type: str, values: Sequence[Any], *, iou_threshold: float) -> ItemConsensus:
    """Consensus of one item's annotations, for objects and transcriptions."""
    if task_type in L.OBJECT_TYPES:
        c = objects_consensus(values, threshold=iou_threshold)
        return ItemConsensus(list(c.objects), c.agreement, c.per_annotator, "iou_match")
    if task_type == L.TRANSCRIPTION:
        c = medoid_consensus(list(values))
        per = tuple(1.0 - text_distance(c.text, v) for v in values)
        return ItemConsensus(c.text, c.agreement, per, "text_distance")
    raise L.UnsupportedTaskType(task_type)


def agreement_with(task_type: str, value: Any, reference: Any, *, iou_threshold: float) -> float:
    """How closely one annotation matches a reference label, in [0, 1]."""
    if task_type == L.CLASSIFICATION:
        return 1.0 if value == reference else 0.0
    if task_type in L.OBJECT_TYPES:
        return similarity(value, reference, threshold=iou_threshold)
    if task_type == L.TRANSCRIPTION:
        return 1.0 - text_distance(value, reference)
    raise L.UnsupportedTaskType(task_type)


def gold_mark(
    task_type: str, value: Any, gold: Any, *, iou_threshold: float, text_tolerance: float
) -> tuple[float, bool]:
    """(score, correct) of one answer on a gold item.

    Classification: right or wrong. Objects: correct when every gold object is
    found with its label at IoU ≥ threshold and nothing is extra; the score is
    the mean-IoU similarity (partial credit for a near miss). Transcription:
    correct within ``text_tolerance`` normalised edit distance."""
    if task_type == L.CLASSIFICATION:
        ok = value == gold
        return (1.0 if ok else 0.0), ok
    if task_type in L.OBJECT_TYPES:
        return similarity(value, gold, threshold=iou_threshold), exact_match(
            value, gold, threshold=iou_threshold
        )
    if task_type == L.TRANSCRIPTION:
        distance = text_distance(value, gold)
        return 1.0 - distance, distance <= text_tolerance + 1e-9
    raise L.UnsupportedTaskType(task_type)


# How the quality score weighs its evidence. Gold is the only evidence against a
# known answer, so it weighs most; agreement with consensus is plentiful but
# partly circular (the annotator helped make the consensus); a review is an
# expert's word but rare and only on the hardest items.
SCORE_WEIGHTS = {"gold": 0.6, "consensus": 0.25, "review": 0.15}


def quality_score(
    *,
    gold_score_sum: float,
    gold_answered: int,
    consensus_sum: float,
    consensus_answered: int,
    review_sum: float,
    reviewed: int,
) -> float | None:
    """Weighted mean of the smoothed rates that have any evidence; None for none.

    Each rate is shrunk towards 0.5 as if two answers had gone half right, so a
    newcomer's single lucky answer does not put them at the top of the ties."""
    parts = []
    if gold_answered:
        parts.append((SCORE_WEIGHTS["gold"], smoothed_rate(gold_score_sum, gold_answered)))
    if consensus_answered:
        parts.append((SCORE_WEIGHTS["consensus"], smoothed_rate(consensus_sum, consensus_answered)))
    if reviewed:
        parts.append((SCORE_WEIGHTS["review"], smoothed_rate(review_sum, reviewed)))
    if not parts:
        return None
    return sum(w * r for w, r in parts) / sum(w for w, _ in parts)
