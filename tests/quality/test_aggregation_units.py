"""Small, exact checks of the classification machinery (pure, no database)."""

from __future__ import annotations

import pandas as pd
import pytest

from qianbiao.quality.aggregation import (
    CLASSIFICATION_METHODS,
    DAWID_SKENE,
    MAJORITY_VOTE,
    ONE_COIN_DS,
    MethodScore,
    aggregate,
    gold_pseudo_tasks,
    method_choose,
)


def _frame(rows):
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def test_majority_vote_agreement_is_the_share_agreeing():
    frame = _frame([("a", 1, "cat"), ("a", 2, "cat"), ("a", 3, "dog"), ("b", 1, "owl"), ("b", 2, "owl")])
    result = aggregate(frame, method=MAJORITY_VOTE)
    assert result["a"].label == "cat" and result["a"].agreement == pytest.approx(2 / 3)
    assert result["a"].confidence == pytest.approx(2 / 3) and result["a"].annotations == 3
    assert result["b"].agreement == 1.0


@pytest.mark.parametrize("method", CLASSIFICATION_METHODS)
def test_every_method_runs_and_agrees_on_unanimous_tasks(method):
    rows = []
    for t in range(30):
        label = ("cat", "dog", "fox")[t % 3]
        rows += [(f"t{t}", w, label) for w in range(3)]
    rows += [("x", 0, "cat"), ("x", 1, "cat"), ("x", 2, "dog")]
    result = aggregate(_frame(rows), method=method)
    assert all(result[f"t{t}"].label == ("cat", "dog", "fox")[t % 3] for t in range(30))
    assert all(result[f"t{t}"].agreement == 1.0 for t in range(30))


def test_gold_answers_are_cut_into_overlap_sized_pseudo_items():
    rows = [("g", w, "cat" if w % 4 else "dog") for w in range(10)] + [("o", 1, "cat"), ("o", 2, "dog")]
    fit, truth = gold_pseudo_tasks(_frame(rows), {"g": "cat"}, overlap=3)
    pseudo = fit[fit.task.str.startswith("gold:")]
    assert sorted(pseudo.groupby("task").size().tolist()) == [3, 3, 3]  # the 10th answer is left over
    assert set(truth) == set(pseudo.task) and set(truth.values()) == {"cat"}
    assert len(fit[fit.task == "o"]) == 2 and "g" not in set(fit.task)
    other_cut, _ = gold_pseudo_tasks(_frame(rows), {"g": "cat"}, overlap=3, cut=1)
    groups = {frozenset(g.worker) for _, g in pseudo.groupby("task")}
    assert groups != {
        frozenset(g.worker) for _, g in other_cut[other_cut.task.str.startswith("gold:")].groupby("task")
    }
    few, few_truth = gold_pseudo_tasks(_frame([("g", 1, "cat"), ("g", 2, "cat")]), {"g": "cat"}, overlap=3)
    assert len(few_truth) == 1 and len(few) == 2  # fewer answers than overlap: one smaller pseudo-item


def test_method_choice_ties_go_to_the_simpler_method_and_little_gold_changes_nothing():
    scores = [
        MethodScore(MAJORITY_VOTE, 80, 100),
        MethodScore(DAWID_SKENE, 85, 100),
        MethodScore(ONE_COIN_DS, 85, 100),
    ]
    assert method_choose(scores) == ONE_COIN_DS  # earlier in CLASSIFICATION_METHODS than Dawid-Skene
    assert method_choose(scores, min_gold=101) == MAJORITY_VOTE
    broken = [MethodScore(MAJORITY_VOTE, 80, 100), MethodScore(DAWID_SKENE, 0, 100, error="ValueError: x")]
    assert method_choose(broken) == MAJORITY_VOTE
