"""Boxes, polygons and text spans: overlap (IoU), matching, consensus.

Everything is in the coordinates Label Studio uses (percent of the image for
boxes and polygons, character offsets for spans). IoU is unchanged by scaling an
axis, so percent coordinates give the same IoU as pixels.

Matching is optimal (Hungarian, scipy's ``linear_sum_assignment``) rather than
greedy: taking the best-overlapping pair first can leave an object without a
partner when objects crowd together, where another pairing matches them all.

Consensus of several annotators' objects: each annotator's objects are matched to
the clusters built so far (IoU ≥ threshold), unmatched ones start new clusters,
and a cluster is kept when more than half of the annotators drew it. A kept box
is the per-coordinate median of its members (robust to one sloppy annotator); a
polygon or span is the member closest to the others (a medoid), because a median
of polygons with different vertex counts is not defined. Labels are voted.

Agreement is mean IoU: for each annotator, the IoU of each of their objects with
the consensus object it matches (0 when unmatched or labelled differently),
summed and divided by the larger of their object count and the consensus count;
then averaged over annotators. 1.0 means everyone drew the same objects exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

import numpy as np
from scipy.optimize import linear_sum_assignment

# Polygon IoU is measured on a RASTER × RASTER grid over the two polygons'
# joint bounding box: exact for boxes, within about 1% for ordinary polygons.
RASTER = 256


@dataclass(frozen=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str = ""

    @classmethod
    def from_xywh(cls, x: float, y: float, width: float, height: float, label: str = "") -> Box:
        return cls(x, y, x + width, y + height, label)

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def as_polygon(self) -> Polygon:
        return Polygon(
            ((self.x1, self.y1), (self.x2, self.y1), (self.x2, self.y2), (self.x1, self.y2)), self.label
        )


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    label: str = ""


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str = ""
    text: str = ""


Shape = Box | Polygon | Span


def box_iou(a: Box, b: Box) -> float:
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.area + b.area - inter)


def span_iou(a: Span, b: Span) -> float:
    inter = min(a.end, b.end) - max(a.start, b.start)
    if inter <= 0:
        return 0.0
    return inter / (max(a.end, b.end) - min(a.start, b.start))


def _inside(points: np.ndarray, polygon: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Even-odd rule for many points against one polygon, vectorised over points."""
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(len(points), dtype=bool)
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > y) != (y2 > y)
        x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < x_at)
    return inside


def polygon_iou(a: Polygon, b: Polygon) -> float:
    if len(a.points) < 3 or len(b.points) < 3:
        return 0.0
    pa, pb = np.asarray(a.points, dtype=float), np.asarray(b.points, dtype=float)
    lo = np.minimum(pa.min(axis=0), pb.min(axis=0))
    hi = np.maximum(pa.max(axis=0), pb.max(axis=0))
    if np.any(hi - lo <= 0):
        return 0.0
    # Cell centres, so that an edge on a grid line never decides a cell twice.
    xs = lo[0] + (np.arange(RASTER) + 0.5) * (hi[0] - lo[0]) / RASTER
    ys = lo[1] + (np.arange(RASTER) + 0.5) * (hi[1] - lo[1]) / RASTER
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    in_a, in_b = _inside(grid, a.points), _inside(grid, b.points)
    union = np.count_nonzero(in_a | in_b)
    return float(np.count_nonzero(in_a & in_b) / union) if union else 0.0


def iou(a: Shape, b: Shape) -> float:
    if isinstance(a, Span) or isinstance(b, Span):
        if not (isinstance(a, Span) and isinstance(b, Span)):
            raise TypeError("a span only overlaps a span")
        return span_iou(a, b)
    if isinstance(a, Box) and isinstance(b, Box):
        return box_iou(a, b)
    pa = a.as_polygon() if isinstance(a, Box) else a
    pb = b.as_polygon() if isinstance(b, Box) else b
    return polygon_iou(pa, pb)


def match(a: Sequence[Shape], b: Sequence[Shape], *, threshold: float) -> list[tuple[int, int, float]]:
    """Pairs (i, j, IoU) with IoU ≥ ``threshold``, each object used at most once:
    as many pairs as possible, and among those the highest total IoU. Labels are
    not looked at.

    Weighting a pair 1 + IoU (0 below the threshold) makes the assignment count
    pairs first: maximising plain total IoU could prefer one excellent pair and
    one below the threshold over two good ones."""
    if not a or not b:
        return []
    scores = np.array([[iou(x, y) for y in b] for x in a])
    weights = np.where(scores >= threshold, 1.0 + scores, 0.0)
    rows, cols = linear_sum_assignment(weights, maximize=True)
    return [
        (int(i), int(j), float(scores[i, j]))
        for i, j in zip(rows, cols, strict=True)
        if scores[i, j] >= threshold
    ]


def _vote(labels: Sequence[str]) -> str:
    counts = Counter(labels)
    top = max(counts.values())
    return min(label for label, n in counts.items() if n == top)  # ties: alphabetical, not by luck


def _combine(members: Sequence[Shape]) -> Shape:
    label = _vote([m.label for m in members])
    if all(isinstance(m, Box) for m in members):
        boxes = [m for m in members if isinstance(m, Box)]
        return Box(
            median(b.x1 for b in boxes),
            median(b.y1 for b in boxes),
            median(b.x2 for b in boxes),
            median(b.y2 for b in boxes),
            label,
        )
    scores = [sum(iou(m, other) for other in members) for m in members]
    best = members[max(range(len(members)), key=lambda i: (scores[i], -i))]
    if isinstance(best, Span):
        return Span(best.start, best.end, label, best.text)
    if isinstance(best, Polygon):
        return Polygon(best.points, label)
    return Box(best.x1, best.y1, best.x2, best.y2, label)


def similarity(objects: Sequence[Shape], reference: Sequence[Shape], *, threshold: float) -> float:
    """Summed IoU of matched, same-label pairs over the larger count; 1.0 if both are empty."""
    if not objects and not reference:
        return 1.0
    pairs = match(objects, reference, threshold=threshold)
    total = sum(v for i, j, v in pairs if objects[i].label == reference[j].label)
    return total / max(len(objects), len(reference))


def exact_match(objects: Sequence[Shape], reference: Sequence[Shape], *, threshold: float) -> bool:
    """Every reference object found with its label at IoU ≥ threshold, and nothing extra."""
    if len(objects) != len(reference):
        return False
    pairs = match(objects, reference, threshold=threshold)
    return len(pairs) == len(reference) and all(objects[i].label == reference[j].label for i, j, _ in pairs)


@dataclass(frozen=True)
class ObjectConsensus:
    objects: tuple[Shape, ...]
    agreement: float
    per_annotator: tuple[float, ...]  # each annotator's similarity to the consensus


def objects_consensus(annotations: Sequence[Sequence[Shape]], *, threshold: float = 0.5) -> ObjectConsensus:
    """Consensus of several annotators' objects on one item (see the module doc)."""
    n = len(annotations)
    if n == 0:
        return ObjectConsensus((), 1.0, ())
    clusters: list[list[Shape]] = []
    centres: list[Shape] = []
    for objects in annotations:
        pairs = match(objects, centres, threshold=threshold)
        matched = set()
        for i, j, _ in pairs:
            clusters[j].append(objects[i])
            centres[j] = _combine(clusters[j])
            matched.add(i)
        for i, shape in enumerate(objects):
            if i not in matched:
                clusters.append([shape])
                centres.append(shape)
    kept = tuple(_combine(c) for c in clusters if 2 * len(c) > n)
    per = tuple(similarity(objects, kept, threshold=threshold) for objects in annotations)
    return ObjectConsensus(kept, sum(per) / n, per)
