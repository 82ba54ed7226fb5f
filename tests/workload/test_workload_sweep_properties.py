"""Property tests: a sweep expands to exactly the cartesian product of its parameters, in order."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from batchforge.submission.target import BatchTarget, EntraIdAuth
from batchforge.workload import plan_job, validate_workload_data

TARGET = BatchTarget(
    account_endpoint="https://acct.westeurope.batch.azure.com",
    auth=EntraIdAuth(),
    pool_ids={"cpu": "pool-cpu"},
    resources_container_url="https://acct.blob.core.windows.net/resources",
    outputs_container_url="https://acct.blob.core.windows.net/outputs",
)

ranges = st.builds(
    lambda start, length, step: {"start": start, "stop": start + (length - 1) * step + (step - 1) // 2, "step": step},
    st.integers(-50, 50),
    st.integers(1, 6),
    st.integers(1, 4),
)
value_lists = st.lists(st.text("abcxyz", min_size=1, max_size=3), min_size=1, max_size=4, unique=True)


def _values(parameter: dict) -> list:
    if "range" in parameter:
        spec = parameter["range"]
        return list(range(spec["start"], spec["stop"] + 1, spec["step"]))
    return parameter["values"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(ranges.map(lambda r: {"range": r}), value_lists.map(lambda v: {"values": v})), min_size=1, max_size=3
    )
)
def test_sweep_is_the_cartesian_product(kinds):
    parameters = [{"name": f"p{index}", **kind} for index, kind in enumerate(kinds)]
    names = [p["name"] for p in parameters]
    data = {
        "id": "prop",
        "pool": "cpu",
        "tasks": {
            "sweep": {
                "parameters": parameters,
                "task": {"commandLine": " ".join(f"{{{name}}}" for name in names) + " #{index}"},
            }
        },
    }
    workload = validate_workload_data(data, "prop.yaml")
    planned = plan_job(workload, TARGET, repo_root=Path("."))
    expected = list(itertools.product(*(_values(p) for p in parameters)))
    assert len(planned.tasks) == len(expected)
    assert [task.id for task in planned.tasks] == [str(index) for index in range(len(expected))]
    assert [task.command_line for task in planned.tasks] == [
        " ".join(str(value) for value in combination) + f" #{index}" for index, combination in enumerate(expected)
    ]


@settings(max_examples=40, deadline=None)
@given(st.integers(-1000, 1000), st.integers(0, 200), st.integers(1, 50))
def test_range_counts_include_stop_when_reached(start, span, step):
    stop = start + span
    data = {
        "id": "r",
        "pool": "cpu",
        "tasks": {
            "sweep": {
                "parameters": [{"name": "x", "range": {"start": start, "stop": stop, "step": step}}],
                "task": {"id": "t{index}", "commandLine": "echo {x}"},
            }
        },
    }
    planned = plan_job(validate_workload_data(data, "r.yaml"), TARGET, repo_root=Path("."))
    values = [int(task.command_line.split()[1]) for task in planned.tasks]
    assert values == list(range(start, stop + 1, step))
    assert values[-1] <= stop < values[-1] + step
