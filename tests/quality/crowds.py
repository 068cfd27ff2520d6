"""Synthetic crowds with known truth, for measuring consensus methods.

Two kinds, as in the issue: annotators described by class confusion matrices, and
annotators whose errors grow with item difficulty. Both have spammers and one
adversarial annotator. Ordinary items get ``overlap`` distinct annotators, spread
evenly as the distributor does; gold items are answered by many annotators, as
the distributor's gold mixing makes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LABELS = ("cat", "dog", "fox", "owl")


@dataclass(frozen=True)
class Crowd:
    kind: str
    seed: int
    frame: pd.DataFrame  # task, worker, label — ordinary and gold answers together
    truth: dict  # every task's true label
    gold: dict  # gold task → answer (a subset of truth)
    overlap: int

    @property
    def ordinary_truth(self) -> dict:
        return {t: y for t, y in self.truth.items() if t not in self.gold}


def _assign(rng, n_items, n_workers, overlap):
    """Each item to ``overlap`` distinct annotators, least-loaded first (ties random)."""
    load = np.zeros(n_workers)
    out = []
    for _ in range(n_items):
        keys = load + rng.random(n_workers) * 0.5
        chosen = np.argsort(keys)[:overlap]
        load[chosen] += 1
        out.append(chosen)
    return out


def _crowd(kind, seed, answer, *, n_items, n_gold, n_workers, overlap, gold_views, priors):
    rng = np.random.default_rng(seed)
    k = len(LABELS)
    n_total = n_items + n_gold
    truth_idx = rng.choice(k, size=n_total, p=priors)
    difficulty = rng.beta(2.0, 3.0, size=n_total)
    distractor = (truth_idx + rng.integers(1, k, size=n_total)) % k
    tasks = [f"{kind}-{seed}-t{j}" for j in range(n_total)]
    rows = []
    for j, workers in enumerate(_assign(rng, n_items, n_workers, overlap)):
        for w in workers:
            rows.append(
                (tasks[j], f"w{w}", LABELS[answer(rng, w, truth_idx[j], difficulty[j], distractor[j])])
            )
    for j in range(n_items, n_total):
        for w in rng.choice(n_workers, size=gold_views, replace=False):
            rows.append(
                (tasks[j], f"w{w}", LABELS[answer(rng, w, truth_idx[j], difficulty[j], distractor[j])])
            )
    truth = {tasks[j]: LABELS[truth_idx[j]] for j in range(n_total)}
    gold = {tasks[j]: truth[tasks[j]] for j in range(n_items, n_total)}
    return Crowd(kind, seed, pd.DataFrame(rows, columns=["task", "worker", "label"]), truth, gold, overlap)


def confusion_crowd(
    seed, *, n_items=2000, n_gold=160, n_workers=30, overlap=3, gold_views=15, spammers=3
) -> Crowd:
    """Honest annotators each have a confusion matrix: per-class accuracy between
    0.45 and 0.95, errors mostly onto one confusable class (cat↔dog, fox↔owl).
    Spammers answer uniformly at random or always "cat"; the adversary answers a
    rotated label 90% of the time."""
    rng = np.random.default_rng(10_000 + seed)
    k = len(LABELS)
    confusable = np.array([1, 0, 3, 2])
    matrices = {}
    for w in range(n_workers):
        m = np.zeros((k, k))
        for c in range(k):
            p = rng.uniform(0.45, 0.95)
            m[c, c] = p
            m[c, confusable[c]] += (1 - p) * 0.8
            for o in range(k):
                if o != c:
                    m[c, o] += (1 - p) * 0.2 / (k - 1)
        matrices[w] = m
    first_spammer = n_workers - spammers - 1
    adversary = n_workers - 1

    def answer(r, w, c, _d, _x):
        if w == adversary:
            return (c + 1) % k if r.random() < 0.9 else c
        if w >= first_spammer:
            return 0 if (w - first_spammer) % 2 else int(r.integers(k))
        return int(r.choice(k, p=matrices[w][c]))

    return _crowd(
        "confusion", seed, answer, n_items=n_items, n_gold=n_gold, n_workers=n_workers,
        overlap=overlap, gold_views=gold_views, priors=[0.4, 0.3, 0.2, 0.1],
    )  # fmt: skip


def difficulty_crowd(
    seed, *, n_items=2000, n_gold=160, n_workers=30, overlap=3, gold_views=15, spammers=3,
    skill_low=0.8, steepness=0.5, to_distractor=0.7,
) -> Crowd:  # fmt: skip
    """An honest annotator of skill s answers an item of difficulty d (Beta(2,3))
    correctly with probability 1/K + (1 - 1/K)·s·(1 - d)²-ish; wrong answers go
    to the item's own distractor 70% of the time, so on hard items the crowd's
    errors agree with each other rather than follow the annotator. Spammers and
    the adversary as in the confusion crowd (the adversary picks the distractor)."""
    rng = np.random.default_rng(20_000 + seed)
    k = len(LABELS)
    skill = rng.uniform(skill_low, 1.0, size=n_workers)
    first_spammer = n_workers - spammers - 1
    adversary = n_workers - 1

    def answer(r, w, c, d, x):
        if w == adversary:
            return x if r.random() < 0.9 else c
        if w >= first_spammer:
            return 0 if (w - first_spammer) % 2 else int(r.integers(k))
        p_right = 1 / k + (1 - 1 / k) * skill[w] * (1 - d) ** steepness
        if r.random() < p_right:
            return c
        if r.random() < to_distractor:
            return x
        return int(r.choice([o for o in range(k) if o != c]))

    return _crowd(
        "difficulty", seed, answer, n_items=n_items, n_gold=n_gold, n_workers=n_workers,
        overlap=overlap, gold_views=gold_views, priors=[0.25, 0.25, 0.25, 0.25],
    )  # fmt: skip
