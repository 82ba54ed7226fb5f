"""The autoscale formula language on given metrics: Batch's documented example formulas give their
documented results; operators, functions, types, sample methods and errors."""

from __future__ import annotations

# ruff: noqa: E501 - Batch's example formulas are tested as one-line statements, as documented
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from batchforge.localbatch.autoscale import AutoScaleResult, PoolState, evaluate
from batchforge.localbatch.autoscale.samples import Sample, SampleHistory

NOW = datetime(2024, 5, 15, 10, 30, 0, tzinfo=UTC)  # a Wednesday
POOL = PoolState(
    current_dedicated=0, current_low_priority=0, target_dedicated=0, target_low_priority=0, task_slots_per_node=1
)


def history(metrics: Mapping[str, list[float]], *, end: datetime = NOW, skip: set[int] = frozenset()) -> SampleHistory:
    """One sample per 30 s ending at `end`; each list is oldest first; `skip` drops samples (by index)."""
    length = max((len(values) for values in metrics.values()), default=0)
    result = SampleHistory()
    for index in range(length):
        if index in skip:
            continue
        at = end - timedelta(seconds=30 * (length - 1 - index))
        result.samples.append(Sample(at, {name: values[index] for name, values in metrics.items()}))
    return result


def run(
    formula: str,
    metrics: Mapping[str, list[float]] | None = None,
    *,
    pool: PoolState = POOL,
    now: datetime = NOW,
    samples: SampleHistory | None = None,
) -> AutoScaleResult:
    return evaluate(formula, pool, samples or history(metrics or {}), now, random.Random(7))


def results(outcome: AutoScaleResult) -> dict[str, str]:
    assert outcome.error is None, outcome.error
    return dict(item.split("=", 1) for item in outcome.results.split(";"))


def value_of(expression: str, metrics: Mapping[str, list[float]] | None = None) -> str:
    return results(run(f"$v = {expression};", metrics))["$v"]


def error_of(formula: str, metrics: Mapping[str, list[float]] | None = None) -> tuple[str, str]:
    outcome = run(formula, metrics)
    assert outcome.error is not None, outcome.results
    ((detail,),) = [[item["value"] for item in outcome.error["values"] if item["name"] == "Message"]]
    return outcome.error["code"], detail


# ---- Batch's documented example formulas -----------------------------------------------------------
PENDING_TASKS = """
startingNumberOfVMs = 1;
maxNumberofVMs = 25;
pendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
pendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs : avg($PendingTasks.GetSample(180 * TimeInterval_Second));
$TargetDedicatedNodes=min(maxNumberofVMs, pendingTaskSamples);
$NodeDeallocationOption = taskcompletion;
"""


def test_pending_tasks_example_starts_with_one_node_then_follows_the_average_capped_at_25():
    young = run(PENDING_TASKS, {"$PendingTasks": [40.0, 40.0]})  # 2 of the 6 samples of 180 s
    assert (young.target_dedicated, young.deallocation_option) == (1, "taskcompletion")
    assert results(young)["pendingTaskSamplePercent"] == "33.3333333333333"
    busy = run(PENDING_TASKS, {"$PendingTasks": [10.0, 12.0, 14.0, 16.0, 18.0, 20.0]})
    assert busy.target_dedicated == 15
    flooded = run(PENDING_TASKS, {"$PendingTasks": [100.0] * 6})
    assert flooded.target_dedicated == 25


def test_preempted_nodes_example_replaces_each_preempted_spot_node_with_a_dedicated_one():
    formula = """
    maxNumberofVMs = 25;
    $TargetDedicatedNodes = min(maxNumberofVMs, $PreemptedNodeCount.GetSample(180 * TimeInterval_Second));
    $TargetLowPriorityNodes = min(maxNumberofVMs , maxNumberofVMs - $TargetDedicatedNodes);
    $NodeDeallocationOption = taskcompletion;
    """
    none = run(formula, {"$PreemptedNodeCount": [0.0] * 6})
    assert (none.target_dedicated, none.target_low_priority) == (0, 25)
    three = run(formula, {"$PreemptedNodeCount": [3.0] * 6})
    assert (three.target_dedicated, three.target_low_priority) == (3, 22)


CPU_FORMULA = """
$totalDedicatedNodes =
    (min($CPUPercent.GetSample(TimeInterval_Minute * 10)) > 0.7) ?
    ($CurrentDedicatedNodes * 1.1) : $CurrentDedicatedNodes;
$totalDedicatedNodes =
    (avg($CPUPercent.GetSample(TimeInterval_Minute * 60)) < 0.2) ?
    ($CurrentDedicatedNodes * 0.9) : $totalDedicatedNodes;
$TargetDedicatedNodes = min(400, $totalDedicatedNodes)
"""


def test_cpu_example_grows_by_a_tenth_when_busy_and_shrinks_by_a_tenth_when_idle():
    pool = PoolState(20, 0, 20, 0, 1)
    busy = run(CPU_FORMULA, {"$CPUPercent": [0.9] * 120}, pool=pool)
    assert busy.target_dedicated == 22
    idle = run(CPU_FORMULA, {"$CPUPercent": [0.1] * 120}, pool=pool)
    assert idle.target_dedicated == 18
    middling = run(CPU_FORMULA, {"$CPUPercent": [0.5] * 120}, pool=pool)
    assert middling.target_dedicated == 20


TIME_BASED = """
$curTime = time();
$workHours = $curTime.hour >= 8 && $curTime.hour < 18;
$isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
$isWorkingWeekdayHour = $workHours && $isWeekday;
$TargetDedicatedNodes = $isWorkingWeekdayHour ? 20:10;
$NodeDeallocationOption = taskcompletion;
"""


def test_time_based_example_gives_20_nodes_in_weekday_working_hours_and_10_otherwise():
    weekday = run(TIME_BASED)
    assert weekday.results == (
        "$TargetDedicatedNodes=20;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
        "$curTime=2024-05-15T10:30:00.000Z;$isWeekday=1;$isWorkingWeekdayHour=1;$workHours=1"
    )
    evening = run(TIME_BASED, now=NOW.replace(hour=19))
    assert (evening.target_dedicated, results(evening)["$workHours"]) == (10, "0")
    sunday = run(TIME_BASED, now=datetime(2024, 5, 19, 10, tzinfo=UTC))
    assert (sunday.target_dedicated, results(sunday)["$isWeekday"]) == (10, "0")
    mountain = run("$curTime = time() + (-6 * TimeInterval_Hour); $h = $curTime.hour;")
    assert results(mountain)["$h"] == "4"


TASK_BASED = """
// a line comment; the formula is Batch's task-based example
$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);
$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) : max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));
$targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);
/* a block
   comment */
$TargetDedicatedNodes = max(0, min($targetVMs, 20));
$NodeDeallocationOption = taskcompletion;
"""


def test_task_based_example_follows_pending_tasks_and_halves_the_pool_when_none_are_left():
    fresh = run(TASK_BASED, {"$PendingTasks": [0.0, 7.0]})
    assert fresh.target_dedicated == 7
    history_30 = [2.0] * 29 + [30.0]  # 15 minutes of samples, the last one a burst
    assert run(TASK_BASED, {"$PendingTasks": history_30}).target_dedicated == 20
    steady = run(TASK_BASED, {"$PendingTasks": [6.0] * 29 + [4.0]})
    assert steady.target_dedicated == 5  # max(4, avg) = 5.93..., truncated
    drained = run(TASK_BASED, {"$PendingTasks": [0.0] * 30}, pool=PoolState(8, 0, 8, 0, 1))
    assert drained.target_dedicated == 4


PARALLEL_TASKS = """
$samples = $ActiveTasks.GetSamplePercent(TimeInterval_Minute * 15);
$tasks = $samples < 70 ? max(0,$ActiveTasks.GetSample(1)) : max( $ActiveTasks.GetSample(1),avg($ActiveTasks.GetSample(TimeInterval_Minute * 15)));
$cores = $TargetDedicatedNodes * 4;
$extraVMs = (($tasks - $cores) + 3) / 4;
$targetVMs = ($TargetDedicatedNodes + $extraVMs);
$TargetDedicatedNodes = max(0,min($targetVMs,3));
$NodeDeallocationOption = taskcompletion;
"""


def test_parallel_tasks_example_adds_a_node_per_four_active_tasks_up_to_three():
    one_node = PoolState(1, 0, 1, 0, 4)
    assert run(PARALLEL_TASKS, {"$ActiveTasks": [6.0]}, pool=one_node).target_dedicated == 2
    assert run(PARALLEL_TASKS, {"$ActiveTasks": [40.0]}, pool=one_node).target_dedicated == 3
    outcome = run(PARALLEL_TASKS, {"$ActiveTasks": [4.0]}, pool=one_node)
    assert (outcome.target_dedicated, results(outcome)["$extraVMs"]) == (1, "0.75")


INITIAL_SIZE = """
$TargetDedicatedNodes = 4;
lifespan         = time() - time("{created}");
span             = TimeInterval_Minute * 60;
startup          = TimeInterval_Minute * 10;
ratio            = 50;

$TargetDedicatedNodes = (lifespan > startup ? (max($RunningTasks.GetSample(span, ratio), $ActiveTasks.GetSample(span, ratio)) == 0 ? 0 : $TargetDedicatedNodes) : 4);
"""


def test_initial_size_example_holds_four_nodes_for_ten_minutes_then_drops_to_zero_when_idle():
    just_created = INITIAL_SIZE.format(created="Wed, 15 May 2024 10:25:00 GMT")  # RFC 1123, as in the docs
    outcome = run(just_created, {"$RunningTasks": [0.0], "$ActiveTasks": [0.0]})
    assert outcome.target_dedicated == 4
    assert results(outcome)["lifespan"] == "00:05:00"
    an_hour_ago = INITIAL_SIZE.format(created="2024-05-15T09:30:00Z")  # W3C-DTF
    idle = {"$RunningTasks": [0.0] * 120, "$ActiveTasks": [0.0] * 120}
    assert run(an_hour_ago, idle).target_dedicated == 0
    busy = {"$RunningTasks": [0.0] * 119 + [2.0], "$ActiveTasks": [0.0] * 120}
    assert run(an_hour_ago, busy).target_dedicated == 4
    error = run(an_hour_ago, {"$RunningTasks": [0.0] * 40, "$ActiveTasks": [0.0] * 40}).error
    assert error is not None and error["code"] == "InsufficientSampleData"


def test_powershell_example_reports_results_with_the_old_alias_names():
    formula = (
        "totalNodes=($CPUPercent.GetSamplePercent(TimeInterval_Minute*0,TimeInterval_Minute*10)<0.7?5:"
        "(min($CPUPercent.GetSample(TimeInterval_Minute*0, TimeInterval_Minute*10))>0.8?($CurrentDedicated*1.1)"
        ":$CurrentDedicated));$TargetDedicated=min(100,totalNodes);"
    )
    outcome = run(formula)
    assert outcome.target_dedicated == 5
    assert (
        outcome.results
        == "$TargetDedicatedNodes=5;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;totalNodes=5"
    )


def test_the_full_name_wins_over_its_alias():
    assert run("$TargetDedicatedNodes = 3; $TargetDedicated = 9; $TargetLowPriority = 2;").target_dedicated == 3
    assert run("$TargetLowPriority = 2;").target_low_priority == 2


def test_sample_percentage_examples_18_of_20_samples_pass_at_80_and_fail_at_95():
    # Ten minutes should hold 20 samples; the last minute (2 samples) is missing.
    cpu = history({"$CPUPercent": [0.5] * 21}, skip={19, 20})
    assert results(run("$v = len($CPUPercent.GetSample(TimeInterval_Minute * 10));", samples=cpu))["$v"] == "18"
    assert results(run("$v = $CPUPercent.GetSamplePercent(TimeInterval_Minute * 10);", samples=cpu))["$v"] == "90"
    assert run("$v = $CPUPercent.GetSample(TimeInterval_Minute * 10, 80);", samples=cpu).error is None
    failed = run("$v = $CPUPercent.GetSample(TimeInterval_Minute * 10, 95);", samples=cpu).error
    assert failed == {
        "code": "InsufficientSampleData",
        "message": "Autoscale evaluation failed due to insufficient sample data",
        "values": [
            {
                "name": "Message",
                "value": "Line 1, Col 18: Insufficient data from data set: $CPUPercent wanted 95%, received 90%",
            }
        ],
    }


def test_a_look_back_range_between_one_and_six_minutes_gives_ten_samples():
    running = {"$RunningTasks": [float(i) for i in range(20)]}
    value = value_of("$RunningTasks.GetSample(1 * TimeInterval_Minute, 6 * TimeInterval_Minute)", running)
    assert value == "[8,9,10,11,12,13,14,15,16,17]"
    assert (
        value_of("$RunningTasks.GetSample(60 * TimeInterval_Second, 120 * TimeInterval_Second, 75)", running)
        == "[16,17]"
    )


# ---- the dev stack's formula ---------------------------------------------------------------------
def _dev_formula() -> str:
    from pathlib import Path

    import yaml

    stack = yaml.safe_load((Path(__file__).parents[2] / "Pulumi.dev.yaml").read_text())
    (pool,) = stack["config"]["batchforge:pools"]
    return str(pool["scale"]["formula"])


def test_dev_stack_formula_one_spot_node_per_two_pending_tasks_at_most_four():
    formula = _dev_formula()
    assert run(formula, {"$PendingTasks": [0.0]}).target_low_priority == 0
    just_queued = run(formula, {"$PendingTasks": [0.0, 3.0]})
    assert (just_queued.target_dedicated, just_queued.target_low_priority) == (0, 2)
    assert just_queued.deallocation_option == "taskcompletion"
    # With ten minutes of history the recent average counts too: a queue that just drained keeps a node.
    drained = run(formula, {"$PendingTasks": [2.0] * 20 + [0.0]})
    assert drained.target_low_priority == 1
    assert run(formula, {"$PendingTasks": [50.0] * 21}).target_low_priority == 4


# ---- operators and types -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("10 - 4 - 3", "3"),
        ("12 / 4 / 3", "1"),
        ("-2 * 3", "-6"),
        ("!0 + !5", "1"),
        ("2 < 3", "1"),
        ("3 <= 2", "0"),
        ("2 == 2 && 3 != 4", "1"),
        ("0 || 0", "0"),
        ("1 > 2 || 2 >= 2", "1"),
        ("0 ? 1 : 2 ? 3 : 4", "3"),
        ("1 ? 0 ? 5 : 6 : 7", "6"),
        ('"abc" < "abd"', "1"),
        ('"x" == "x"', "1"),
        ("2 * TimeInterval_Minute + TimeInterval_Second", "00:02:01"),
        ("TimeInterval_Hour / 4", "00:15:00"),
        ("TimeInterval_Day * 1.5", "1.12:00:00"),
        ("-TimeInterval_Minute", "-00:01:00"),
        ("TimeInterval_Week - TimeInterval_Day", "6.00:00:00"),
        ("TimeInterval_Millisecond * 5", "00:00:00.0050000"),
        ("TimeInterval_100ns", "00:00:00.0000001"),
        ("TimeInterval_Minute > TimeInterval_Second", "1"),
        ('time("2024-05-15T10:00:00Z") + TimeInterval_Hour', "2024-05-15T11:00:00.000Z"),
        ('TimeInterval_Day + time("2024-05-15T10:00:00Z")', "2024-05-16T10:00:00.000Z"),
        ('time("2024-05-15T10:00:00Z") - time("2024-05-14T09:00:00Z")', "1.01:00:00"),
        ('time("2024-05-15T10:00:00Z") < time()', "1"),
        ("$PendingTasks.GetSample(3) + 1", "[2,3,4]"),
        ("$PendingTasks.GetSample(3) * $PendingTasks.GetSample(3)", "[1,4,9]"),
        ("1.5e2", "150"),
        (".5", "0.5"),
        ("1 /* inline */ + 1", "2"),
    ],
)
def test_operators(expression, expected):
    assert value_of(expression, {"$PendingTasks": [1.0, 2.0, 3.0]}) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("avg(1, 2, 3, 6)", "3"),
        ("avg($PendingTasks.GetSample(4), 10)", "4"),
        ("len($PendingTasks.GetSample(4), 7)", "5"),
        ("len(3)", "1"),
        ("max(0, $PendingTasks.GetSample(4))", "4"),
        ("min(2, $PendingTasks.GetSample(4))", "1"),
        ("sum($PendingTasks.GetSample(4))", "10"),
        ("range(3, 9, 4)", "6"),
        ("norm(3, 4)", "5"),
        ("std(2, 4, 4, 4, 5, 5, 7, 9)", "2.1380899352994"),
        ("std(5)", "0"),
        ("ceil(1.2)", "2"),
        ("ceil($PendingTasks.GetSample(2) / 3)", "[1,2]"),
        ("floor(-1.5)", "-2"),
        ("floor(1.9, 2.1)", "[1,2]"),
        ("round(2.5)", "3"),
        ("round(-2.5)", "-3"),
        ("round(1.4)", "1"),
        ("lg(8)", "3"),
        ("lg($PendingTasks.GetSample(2))", "[1.58496250072116,2]"),
        ("ln(1)", "0"),
        ("log(1000)", "3"),
        ("log($PendingTasks.GetSample(1))", "[0.602059991327962]"),
        ("percentile($PendingTasks.GetSample(4), 50)", "2"),
        ("percentile($PendingTasks.GetSample(4), 100)", "4"),
        ("val($PendingTasks.GetSample(4), 0)", "1"),
        ("val($PendingTasks.GetSample(4), 3)", "4"),
        ('time("Wed, 15 May 2024 08:00:00 GMT").hour', "8"),
        ('time("2024-05-15T10:00:00+02:00").hour', "8"),
        ('time("2024-05-15T10:00:00Z").weekday', "3"),
        ("time().year * 100 + time().month", "202405"),
        ("time().day + time().minute + time().second", "45"),
        ("$PendingTasks.Count()", "4"),
        ("$PendingTasks.GetSamplePeriod()", "00:00:30"),
        ("$PendingTasks.HistoryBeginTime()", "2024-05-15T10:28:30.000Z"),
        ("$PendingTasks.GetSamplePercent(TimeInterval_Minute * 4)", "50"),
        ("$PendingTasks.GetSamplePercent(TimeInterval_Minute, TimeInterval_Minute * 3)", "50"),
        ('$PendingTasks.GetSamplePercent(time("2024-05-15T10:29:00Z"))', "100"),
        ("$SucceededTasks.GetSample(1)", "[0]"),
    ],
)
def test_functions_and_sample_methods(expression, expected):
    assert value_of(expression, {"$PendingTasks": [1.0, 2.0, 3.0, 4.0]}) == expected


def test_rand_is_between_zero_and_one():
    drawn = [float(results(run(f"$r{i} = rand();"))[f"$r{i}"]) for i in range(5)]
    assert all(0 <= value < 1 for value in drawn) and len(set(drawn)) == 1  # seeded: the same each run
    assert len({results(run("$a = rand(); $b = rand();"))[name] for name in ("$a", "$b")}) == 2


def test_plain_system_variables_and_initial_targets():
    pool = PoolState(
        current_dedicated=3, current_low_priority=2, target_dedicated=5, target_low_priority=4, task_slots_per_node=8
    )
    outcome = run(
        "$d = $CurrentDedicatedNodes; $l = $CurrentLowPriorityNodes; $s = $TaskSlotsPerNode;"
        "$td = $TargetDedicatedNodes; $tl = $TargetLowPriorityNodes;",
        pool=pool,
    )
    assert [results(outcome)[name] for name in ("$d", "$l", "$s", "$td", "$tl")] == ["3", "2", "8", "5", "4"]
    assert (outcome.target_dedicated, outcome.target_low_priority, outcome.deallocation_option) == (5, 4, "requeue")


@pytest.mark.parametrize(
    "metric",
    [
        "$CPUPercent",
        "$WallClockSeconds",
        "$MemoryBytes",
        "$DiskBytes",
        "$DiskReadBytes",
        "$DiskWriteBytes",
        "$DiskReadOps",
        "$DiskWriteOps",
        "$NetworkInBytes",
        "$NetworkOutBytes",
        "$SampleNodeCount",
        "$ActiveTasks",
        "$RunningTasks",
        "$PendingTasks",
        "$SucceededTasks",
        "$FailedTasks",
        "$PreemptedNodeCount",
        "$UsableNodeCount",
    ],
)
def test_every_sample_variable_has_the_sample_methods(metric):
    outcome = run(f"$v = avg({metric}.GetSample(1)); $c = {metric}.Count();", {metric: [4.0, 6.0]})
    assert (results(outcome)["$v"], results(outcome)["$c"]) == ("6", "2")


def test_user_variables_with_and_without_dollar_and_deallocation_options():
    outcome = run("a = 2; $b = a * 2; $TargetDedicatedNodes = $b; $NodeDeallocationOption = retaineddata;")
    assert (outcome.target_dedicated, outcome.deallocation_option) == (4, "retaineddata")
    assert results(outcome)["a"] == "2" and results(outcome)["$b"] == "4"
    for option in ("requeue", "terminate", "taskcompletion"):
        assert run(f"$NodeDeallocationOption = {option}").deallocation_option == option


def test_targets_are_truncated_and_stop_ends_the_evaluation():
    assert run("$TargetDedicatedNodes = 2.9;").target_dedicated == 2
    stopped = run("$TargetDedicatedNodes = 2; $x = 1 ? stop() : 0; $TargetDedicatedNodes = 9;")
    assert stopped.target_dedicated == 2 and "$x" not in results(stopped)


# ---- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("formula", "code", "detail"),
    [
        (
            "$TargetDedicatedNodes = $NoSuchThing;",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 25: Undefined symbol: $NoSuchThing",
        ),
        (
            "$a = 1;\n$TargetDedicatedNodes = b + 1;",
            "AutoScalingFormulaEvaluationError",
            "Line 2, Col 25: Undefined symbol: b",
        ),
        (
            "$TargetDedicatedNodes = 1 +;",
            "AutoScalingFormulaSyntaxError",
            "Line 1, Col 28: Expected an expression but found ';'",
        ),
        (
            "$TargetDedicatedNodes = (1 + 2;",
            "AutoScalingFormulaSyntaxError",
            "Line 1, Col 31: Expected ')' but found ';'",
        ),
        ("$TargetDedicatedNodes = 1 2;", "AutoScalingFormulaSyntaxError", "Line 1, Col 27: Expected ';' but found '2'"),
        ("$TargetDedicatedNodes = 1 % 2;", "AutoScalingFormulaSyntaxError", "Line 1, Col 27: Unexpected character '%'"),
        (
            "$TargetDedicatedNodes = mean(1, 2);",
            "AutoScalingFormulaSyntaxError",
            "Line 1, Col 25: Unknown function 'mean'",
        ),
        (
            "$TargetDedicatedNodes = $PendingTasks;",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 1: $PendingTasks is a sample variable; use one of its methods",
        ),
        (
            "$TargetDedicatedNodes = $PendingTasks + 1;",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 25: $PendingTasks is a sample variable; use one of its methods",
        ),
        (
            "$TargetDedicatedNodes = $PendingTasks.GetSample(1);",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 1: $TargetDedicatedNodes must be a double, not a doubleVec",
        ),
        (
            '$x = "a" + 1;',
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 10: Operator '+' is not defined for string and double",
        ),
        (
            "$x = time() * 2;",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 13: Operator '*' is not defined for timestamp and double",
        ),
        (
            "$x = 1 + TimeInterval_Second;",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 8: Operator '+' is not defined for double and timeinterval",
        ),
        (
            "$x = 2 < TimeInterval_Second;",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 8: Operator '<' is not defined for double and timeinterval",
        ),
        (
            '$x = "a" ? 1 : 2;',
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 10: Operator '?:' tests a double, not a string",
        ),
        (
            "$x = -$PendingTasks.GetSample(1);",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 6: Operator '-' is not defined for a doubleVec",
        ),
        (
            "$x = $PendingTasks.GetSample(2) + $PendingTasks.GetSample(1);",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 33: doubleVec + doubleVec needs vectors of the same length",
        ),
        ("$x = 1 / 0;", "AutoScalingFormulaEvaluationError", "Line 1, Col 8: Division by zero"),
        (
            "$x = avg(time());",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 6: avg() takes doubles and doubleVecs, not a timestamp",
        ),
        (
            "$x = val($PendingTasks.GetSample(2), 2);",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 6: val() index 2 is outside the vector (length 2)",
        ),
        ("$x = ln(0);", "AutoScalingFormulaEvaluationError", "Line 1, Col 6: ln() is not defined for [0.0]"),
        (
            '$x = time("yesterday");',
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 6: time() cannot read 'yesterday' (use W3C-DTF or RFC 1123)",
        ),
        ("$x = time().week;", "AutoScalingFormulaEvaluationError", "Line 1, Col 13: A timestamp has no member 'week'"),
        (
            "$x = $PendingTasks.Average();",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 20: $PendingTasks has no method 'Average'",
        ),
        (
            "$x = $PendingTasks.GetSample();",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 20: $PendingTasks.GetSample() needs a sample count or a time range",
        ),
        (
            "$x = $PendingTasks.GetSample(1.5);",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 20: $PendingTasks.GetSample(count) takes a whole number of samples >= 1",
        ),
        (
            "$CurrentDedicatedNodes = 3;",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 1: $CurrentDedicatedNodes is read-only",
        ),
        ("$PendingTasks = 3;", "AutoScalingFormulaEvaluationError", "Line 1, Col 1: $PendingTasks is read-only"),
        (
            "$NodeDeallocationOption = 3;",
            "AutoScalingFormulaEvaluationError",
            "Line 1, Col 1: $NodeDeallocationOption must be one of requeue, terminate, taskcompletion, retaineddata",
        ),
        (
            "$TargetDedicatedNodes = -1;",
            "AutoScalingFormulaEvaluationError",
            "$TargetDedicatedNodes must be a finite number >= 0, not -1",
        ),
        (
            "$x = $PendingTasks.GetSample(5);",
            "InsufficientSampleData",
            "Line 1, Col 20: Insufficient data from data set: $PendingTasks wanted 5 samples, received 2",
        ),
        (
            "$x = avg($ActiveTasks.GetSample(TimeInterval_Minute * 10));",
            "InsufficientSampleData",
            "Line 1, Col 23: Insufficient data from data set: $ActiveTasks wanted 70%, received 10%",
        ),
    ],
)
def test_errors_have_batch_codes_and_positions(formula, code, detail):
    assert error_of(formula, {"$PendingTasks": [1.0, 2.0], "$ActiveTasks": [1.0, 2.0]}) == (code, detail)


def test_limits_8_kb_and_100_statements():
    assert error_of("$a = 1;" + " " * 8192)[0] == "AutoScaleFormulaTooLong"
    assert error_of("$a = 1;" * 101) == (
        "AutoScalingFormulaSyntaxError",
        "Line 1, Col 701: A formula can have at most 100 statements",
    )
    assert run("$a = 1;" * 100).error is None


def test_guarding_with_get_sample_percent_avoids_the_insufficient_samples_error():
    guarded = "$p = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10); $x = $p < 70 ? 0 : avg($PendingTasks.GetSample(TimeInterval_Minute * 10));"
    assert results(run(guarded, {"$PendingTasks": [1.0]}))["$x"] == "0"
    assert results(run(guarded, {"$PendingTasks": [2.0] * 20}))["$x"] == "2"
