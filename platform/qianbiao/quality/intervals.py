"""Confidence intervals for small counts.

An annotator's gold accuracy after 3 answers says little: the Wilson score
interval says how little, where the naive p ± z·sqrt(p(1-p)/n) collapses to a
point at 0/n or n/n and leaves [0, 1]. Pausing decisions use its upper bound
(pause only when even the optimistic reading is below the bar) and honours use its
lower bound (honour only when even the pessimistic reading is above it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson_interval(successes: int, trials: int, *, z: float = Z_95) -> Interval:
    """Wilson score interval for a binomial proportion; (0, 1) when nothing is known."""
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    if trials == 0:
        return Interval(0.0, 1.0)
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # At 0/n and n/n the bound is exactly 0 or 1; float rounding would leave 1e-17.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low, high)


def smoothed_rate(
    successes: float, trials: float, *, prior_mean: float = 0.5, prior_weight: float = 2.0
) -> float:
    """A rate shrunk towards ``prior_mean`` as if ``prior_weight`` answers had been
    seen at that rate (Beta prior); a newcomer's 1/1 is 0.67, not 1.0."""
    return (successes + prior_mean * prior_weight) / (trials + prior_weight)
