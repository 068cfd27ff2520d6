"""Transcription distance and consensus; Wilson intervals (pure, no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qianbiao.quality.intervals import smoothed_rate, wilson_interval
from qianbiao.quality.text import levenshtein, medoid_consensus, rover_consensus, text_distance


def test_levenshtein_known_values():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("贵州省", "贵州") == 1


@given(st.text(max_size=12), st.text(max_size=12))
def test_levenshtein_is_a_symmetric_bounded_distance(a, b):
    d = levenshtein(a, b)
    assert d == levenshtein(b, a)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
    assert (d == 0) == (a == b)


def test_distance_ignores_case_punctuation_and_spacing():
    assert text_distance("Hello,  World!", "hello world") == 0.0
    assert text_distance("黔东南，苗族。", "黔东南苗族") == 0.0
    assert text_distance("abcd", "abcx") == pytest.approx(0.25)
    assert text_distance("", "") == 0.0


def test_medoid_is_a_transcription_someone_typed():
    texts = ["the cat sat on the mat", "the cat sat on a mat", "the bat sat on the mat", "zzz"]
    c = medoid_consensus(texts)
    assert c.text == "the cat sat on the mat" and c.chosen == 0
    assert 0 < c.agreement < 1


def test_rover_outvotes_slips_that_every_annotator_makes_somewhere_different():
    truth = "the quick brown fox jumps over the lazy dog"
    texts = [
        "the quick brown fox jumps over the hazy dog",
        "the quack brown fox jumps over the lazy dog",
        "the quick brown fox jumped over the lazy dog",
    ]
    assert rover_consensus(texts).text == truth
    assert medoid_consensus(texts).text != truth  # the medoid keeps one annotator's slip


def test_wilson_interval_known_values():
    # Reference values as statsmodels' proportion_confint(method="wilson") gives them.
    assert wilson_interval(8, 10).low == pytest.approx(0.4902, abs=1e-4)
    assert wilson_interval(8, 10).high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 10).low == 0.0
    assert wilson_interval(0, 10).high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0).low == 0.0 and wilson_interval(0, 0).high == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_interval_contains_the_estimate_and_narrows_with_more_answers(successes, trials):
    successes = min(successes, trials)
    interval = wilson_interval(successes, trials)
    assert 0.0 <= interval.low <= successes / trials <= interval.high <= 1.0
    wider = wilson_interval(successes, trials)
    narrower = wilson_interval(successes * 4, trials * 4)
    assert narrower.high - narrower.low < wider.high - wider.low


def test_small_counts_are_honoured():
    # 3 of 3 right is not proof of a 100% annotator, nor 0 of 2 of a 0% one.
    assert wilson_interval(3, 3).low < 0.5
    assert wilson_interval(0, 2).high > 0.6
    assert smoothed_rate(1, 1) == pytest.approx(2 / 3)
