"""Upper bounds read off autoscale formulas."""

import math

import pytest

from batchforge.policy.autoscale_bounds import DEDICATED, LOW_PRIORITY, target_bounds


@pytest.mark.parametrize(
    ("formula", "dedicated", "low_priority"),
    [
        ("$TargetDedicatedNodes = 3;", 3, 0),
        ("$TargetDedicatedNodes = min(10, $PendingTasks.GetSample(1));", 10, 0),
        ("cap = 6; $TargetDedicatedNodes = min($pending, cap);", 6, 0),
        ("$TargetLowPriorityNodes = min(4, ($recent + 1) / 2); $TargetDedicatedNodes = 0;", 0, 4),
        ("$TargetDedicatedNodes = max(min(2, $a), 5);", 5, 0),
        ("// comment = 99\n$TargetDedicatedNodes = (min(7, $x));", 7, 0),
        ("$TargetDedicatedNodes = $PendingTasks.GetSample(1);", math.inf, 0),
        ("$TargetDedicatedNodes = min($a, $b);", math.inf, 0),
        ("$TargetDedicatedNodes = min(3, $a) + min(4, $b);", math.inf, 0),
        ("$TargetDedicatedNodes = 2; $TargetDedicatedNodes = $x;", math.inf, 0),
        ("$NodeDeallocationOption = taskcompletion;", 0, 0),
    ],
)
def test_bounds(formula, dedicated, low_priority):
    bounds = target_bounds(formula)
    assert bounds[DEDICATED].max_nodes == dedicated
    assert bounds[LOW_PRIORITY].max_nodes == low_priority


def test_comparison_is_not_an_assignment():
    assert not target_bounds("$x == 3 ? 1 : 2;")[DEDICATED].assigned
