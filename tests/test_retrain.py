"""Tests for sweep.commands.retrain's words about the final model (no training)."""

from __future__ import annotations

from typing import Any

import pytest

from sweep.commands.retrain import baseline_words

GAIN = {"baseline_test_accuracy": 0.98, "test_gain": 0.012, "test_gain_ci95": [0.004, 0.02]}
SKIPPED = {"baseline_test_accuracy": None, "test_gain": None, "test_gain_ci95": None}


@pytest.mark.parametrize(
    ("metrics", "is_baseline", "words"),
    [
        (GAIN, False, "baseline retrained the same way: 0.9800, gain +0.0120 (95 % interval +0.0040 to +0.0200)"),
        (SKIPPED, False, "baseline not retrained"),  # the time limit left no room for it
        # The answer is the baseline: its "gain" over itself is 0 by construction, not a finding.
        ({"baseline_test_accuracy": 0.98, "test_gain": 0.0, "test_gain_ci95": [0.0, 0.0]}, True,
         "the baseline itself: no gain to measure"),
    ],
)  # fmt: skip
def test_the_final_model_against_the_baseline_in_words(metrics: dict[str, Any], is_baseline: bool, words: str) -> None:
    assert baseline_words(metrics, is_baseline) == words
