"""Classification consensus through crowd-kit, and choosing a project's method from gold.

Pure functions on a long-format frame with columns ``task``, ``worker``, ``label``
(crowd-kit's own layout), so every claim about them can be tested without a
database. No EM is written here: each method is crowd-kit's, with fixed seeds
and iteration limits so that the same annotations always give the same result.

Choosing a method. No method wins on every crowd (Dawid-Skene learns per-class
confusions, but on crowds whose errors follow item difficulty it can lose to a
plain vote), so each project measures them on its own gold items. Every method is
fitted on *all* the project's annotations with the gold answers withheld, exactly
as it will be used on ordinary items, and only its output on gold is scored.

Gold items differ from ordinary ones in one way that would spoil that measure: the
distributor shows a gold item to every annotator who is owed gold, so it collects
far more answers than an ordinary item's ``overlap``, and with 20 votes every
method is right. Each gold item's answers are therefore cut into groups of
``overlap`` — pseudo-items as hard as ordinary ones — and each group is scored.
Which answers share a group is chance, so the score is summed over
``GOLD_CUTS`` different cuts, each fitted afresh.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from crowdkit.aggregation import (
    GLAD,
    MACE,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    Wawa,
    ZeroBasedSkill,
)

# Method keys are the values of quality.models.ResultMethod (kept as plain strings
# here so that this module needs no Django).
MAJORITY_VOTE = "majority_vote"
DAWID_SKENE = "dawid_skene"
ONE_COIN_DS = "one_coin_dawid_skene"
GLAD_METHOD = "glad"
MACE_METHOD = "mace"
WAWA = "wawa"
ZERO_BASED_SKILL = "zero_based_skill"

# The order breaks ties between methods equally accurate on gold: the simpler and
# more explainable first, so a project only leaves majority vote for a measured gain.
CLASSIFICATION_METHODS: tuple[str, ...] = (
    MAJORITY_VOTE,
    WAWA,
    ONE_COIN_DS,
    DAWID_SKENE,
    ZERO_BASED_SKILL,
    GLAD_METHOD,
    MACE_METHOD,
)

COLUMNS = ["task", "worker", "label"]

# How many different cuts of the gold answers a method is scored on. One cut is
# noisy: on a synthetic crowd where Dawid-Skene beat one-coin DS by 2 points on
# ordinary items, one cut of 800 gold pseudo-items ranked them the other way while
# five other cuts did not. Each cut is a separate fit (repeating answers inside
# one fit would let the flexible methods score on answers they were fitted to).
GOLD_CUTS = 3


def _model(method: str) -> Any:
    if method == MAJORITY_VOTE:
        return MajorityVote()
    if method == DAWID_SKENE:
        return DawidSkene(n_iter=100, tol=1e-5)
    if method == ONE_COIN_DS:
        return OneCoinDawidSkene(n_iter=100, tol=1e-5)
    if method == GLAD_METHOD:
        return GLAD(n_iter=20, tol=1e-5, silent=True)
    if method == MACE_METHOD:
        return MACE(n_restarts=1, n_iter=50, random_state=0)
    if method == WAWA:
        return Wawa()
    if method == ZERO_BASED_SKILL:
        return ZeroBasedSkill(n_iter=40)
    raise ValueError(f"unknown classification method {method!r}")


def _fit_predict_proba(method: str, frame: pd.DataFrame) -> pd.DataFrame:
    # crowd-kit 1.4.2 uses pandas idioms pandas 3 deprecates (inplace=, copy=):
    # its warnings say nothing about our data, so they are silenced here only.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"crowdkit(\.|$)")
        return _fit(method, frame)


def _fit(method: str, frame: pd.DataFrame) -> pd.DataFrame:
    model = _model(method)
    if method in (WAWA, ZERO_BASED_SKILL):
        # crowd-kit 1.4.2's Wawa and ZeroBasedSkill predict through scikit-learn's
        # check_is_fitted, which since scikit-learn 1.6 rejects estimators without
        # __sklearn_tags__. Their fit() is unaffected; predicting is exactly their
        # own _apply: a majority vote weighted by the fitted skills.
        model.fit(frame)
        return MajorityVote().fit_predict_proba(frame, skills=model.skills_)
    return model.fit_predict_proba(frame)


@dataclass(frozen=True)
class Consensus:
    """One task's aggregated label.

    ``agreement`` is the share of the task's annotators who gave that label: a
    fact about the annotations that a project manager can check by hand.
    ``confidence`` is the method's own posterior for it (for majority vote the two
    are equal)."""

    label: Hashable
    agreement: float
    confidence: float
    annotations: int


def aggregate(frame: pd.DataFrame, *, method: str) -> dict[Hashable, Consensus]:
    """Aggregate every task in ``frame`` with ``method``."""
    frame = frame[COLUMNS]
    if frame.empty:
        return {}
    # crowd-kit is pandas all the way down, and pandas 3 keeps strings in Arrow
    # arrays whose factorize/indexing cost dominates a fit (GLAD on 8,400 rows:
    # 42 s for two EM iterations with string ids, 7 s for twenty with integer
    # codes; all seven methods 5× faster). So fit on integer codes.
    task_codes, tasks = pd.factorize(frame["task"], sort=False)
    worker_codes, _ = pd.factorize(frame["worker"], sort=False)
    label_codes, labels = pd.factorize(frame["label"], sort=True)
    coded = pd.DataFrame({"task": task_codes, "worker": worker_codes, "label": label_codes})
    probas = _fit_predict_proba(method, coded)
    # Ties go to the first label in sorted order, whichever method: deterministic.
    best = probas.to_numpy().argmax(axis=1)
    confidence = probas.to_numpy().max(axis=1)
    column_labels = [labels[c] for c in probas.columns]
    votes = coded.groupby(["task", "label"]).size()
    counts = coded.groupby("task").size()
    out: dict[Hashable, Consensus] = {}
    for row, task_code in enumerate(probas.index):
        label = column_labels[best[row]]
        label_code = probas.columns[best[row]]
        n = int(counts[task_code])
        agree = int(votes.get((task_code, label_code), 0))
        out[tasks[task_code]] = Consensus(label, agree / n, float(confidence[row]), n)
    return out


def _stable_key(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def gold_pseudo_tasks(
    frame: pd.DataFrame, gold: Mapping[Hashable, Hashable], *, overlap: int, cut: int = 0
) -> tuple[pd.DataFrame, dict[Hashable, Hashable]]:
    """Cut each gold task's answers into groups of ``overlap`` (see the module doc).

    Returns the frame with gold tasks replaced by pseudo-tasks ``"gold:{task}:{k}"``
    and the truth of each pseudo-task. The order within a gold task is a hash of
    (cut, task, worker): stable, unrelated to who answered first, and different
    for each ``cut``. A remainder smaller than ``overlap`` is dropped unless it is
    all there is."""
    overlap = max(1, overlap)
    is_gold = frame["task"].isin(list(gold))
    rows: list[tuple[Hashable, Hashable, Hashable]] = []
    truth: dict[Hashable, Hashable] = {}
    for task, answers in frame[is_gold].groupby("task", sort=True):
        order = sorted(
            answers[COLUMNS].itertuples(index=False), key=lambda r: _stable_key(cut, task, r.worker)
        )
        groups = [order[i : i + overlap] for i in range(0, len(order), overlap)]
        if len(groups) > 1 and len(groups[-1]) < overlap:
            groups.pop()
        for k, group in enumerate(groups):
            pseudo = f"gold:{task}:{k}"
            truth[pseudo] = gold[task]
            rows.extend((pseudo, r.worker, r.label) for r in group)
    pseudo_frame = pd.DataFrame(rows, columns=COLUMNS)
    return pd.concat([frame.loc[~is_gold, COLUMNS], pseudo_frame], ignore_index=True), truth


@dataclass(frozen=True)
class MethodScore:
    method: str
    correct: int
    total: int
    error: str = ""  # why the method could not be run, if so

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class MethodRun:
    score: MethodScore
    consensus: dict[Hashable, Consensus]  # every task of the fit, gold pseudo-tasks included


def methods_run(
    frame: pd.DataFrame,
    gold: Mapping[Hashable, Hashable],
    *,
    overlap: int,
    methods: Sequence[str] = CLASSIFICATION_METHODS,
    cuts: int = GOLD_CUTS,
) -> list[MethodRun]:
    """Run each method on all annotations (gold answers withheld) and score its
    output on the gold pseudo-tasks, over ``cuts`` different cuts of the gold
    answers, each fitted separately. ``consensus`` is from cut 0."""
    totals = {m: [0, 0, ""] for m in methods}
    first: dict[str, dict[Hashable, Consensus]] = {}
    for cut in range(cuts):
        fit_frame, truth = gold_pseudo_tasks(frame, gold, overlap=overlap, cut=cut)
        for method in methods:
            if totals[method][2]:
                continue
            try:
                result = aggregate(fit_frame, method=method)
            except Exception as exc:  # noqa: BLE001 — a method that cannot fit this crowd is out, not fatal
                totals[method][2] = f"{type(exc).__name__}: {exc}"[:200]
                continue
            totals[method][0] += sum(
                1 for t, label in truth.items() if t in result and result[t].label == label
            )
            totals[method][1] += len(truth)
            if cut == 0:
                first[method] = result
    return [
        MethodRun(MethodScore(m, int(totals[m][0]), int(totals[m][1]), str(totals[m][2])), first.get(m, {}))
        for m in methods
    ]


def method_choose(
    scores: Sequence[MethodScore],
    *,
    default: str = MAJORITY_VOTE,
    min_gold: int = 90,
    order: Sequence[str] = CLASSIFICATION_METHODS,
) -> str:
    """The most accurate method on gold; ties go to the earlier method in ``order``.

    With fewer than ``min_gold`` scored pseudo-tasks (over all cuts; 30 a cut)
    the measurement says too little and the default stands."""
    usable = [s for s in scores if not s.error and s.total]
    if not usable or max(s.total for s in usable) < min_gold:
        return default
    rank = {m: i for i, m in enumerate(order)}
    best = max(usable, key=lambda s: (s.correct, -rank.get(s.method, len(rank))))
    return best.method


def accuracy(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable]) -> float:
    """Share of ``truth`` tasks whose prediction is right (a missing prediction is wrong)."""
    if not truth:
        return math.nan
    return sum(1 for t, y in truth.items() if predicted.get(t) == y) / len(truth)
