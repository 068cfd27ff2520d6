"""Transcriptions: a normalised edit distance and a consensus.

Distance is Levenshtein over characters of normalised text (NFKC, case folded,
punctuation dropped, whitespace collapsed) divided by the longer length, so 0 is
identical and 1 is nothing in common — a character error rate, which suits
Chinese and the minority languages written without spaces.

Consensus is the medoid: the transcription closest in total to all the others.
It is always something an annotator actually typed, which a reviewer can trust;
crowd-kit's ROVER (token voting over an alignment) is offered too and can beat it
when every annotator makes different small slips, but may produce a string no
one wrote.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return _SPACE.sub(" ", text).strip()


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute; each costs 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def text_distance(a: str, b: str) -> float:
    """Normalised edit distance in [0, 1] between normalised texts."""
    a, b = normalise(a), normalise(b)
    longest = max(len(a), len(b))
    return levenshtein(a, b) / longest if longest else 0.0


@dataclass(frozen=True)
class TextConsensus:
    text: str
    agreement: float  # 1 - mean distance of the transcriptions to the consensus
    chosen: int | None  # index of the medoid transcription; None for ROVER


def medoid_consensus(texts: Sequence[str]) -> TextConsensus:
    if not texts:
        return TextConsensus("", 1.0, None)
    n = len(texts)
    distance = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            distance[i][j] = distance[j][i] = text_distance(texts[i], texts[j])
    # Ties go to the earliest transcription, so the result does not depend on luck.
    best = min(range(n), key=lambda i: (sum(distance[i]), i))
    agreement = 1.0 - sum(distance[best]) / n
    return TextConsensus(texts[best], agreement, best)


def rover_consensus(texts: Sequence[str]) -> TextConsensus:
    """crowd-kit's ROVER over word (or character) tokens."""
    from crowdkit.aggregation import ROVER

    if not texts:
        return TextConsensus("", 1.0, None)
    spaced = any(" " in normalise(t) for t in texts)
    frame = pd.DataFrame(
        {"task": ["t"] * len(texts), "worker": [f"w{i}" for i in range(len(texts))], "text": list(texts)}
    )
    frame["text"] = frame["text"].map(normalise)
    rover = ROVER(
        tokenizer=(lambda s: s.split(" ")) if spaced else list,
        detokenizer=(lambda tokens: " ".join(tokens)) if spaced else "".join,
    )
    text = str(rover.fit_predict(frame).iloc[0])
    agreement = 1.0 - sum(text_distance(text, t) for t in texts) / len(texts)
    return TextConsensus(text, agreement, None)
