"""metrics/summary_stats.py: the Student-t interval as a list, against hand values (the sweep's
and the audit's other statistics are tested in test_engine.py)."""

import numpy as np
import pytest

from unlearn_core.metrics.summary_stats import mean_interval, t_interval


def test_t_interval_is_mean_interval_as_a_list():
    values = np.array([0.2, 0.4, 0.9])
    # mean 0.5, sd sqrt(0.13), t(0.975, 2) = 4.302653
    half = 4.302653 * np.sqrt(0.13) / np.sqrt(3)
    assert t_interval(values) == pytest.approx([0.5 - half, 0.5 + half], abs=1e-6)
    summary = mean_interval(values.tolist())
    assert t_interval(values) == [summary["ci_low"], summary["ci_high"]]


def test_t_interval_of_one_value_is_that_value():
    assert t_interval(np.array([0.25])) == [0.25, 0.25]
