"""The engine-contract harness: every committed stack passes it, and each of its checks fires on a program
that breaks that rule (in a preview and in an update), naming the resource."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.resource import DependencyResource

from batchforge.config import to_pulumi_config
from batchforge.contract.engine import BOTH_MODES, EngineContractViolation, Mode, engine_urn, run_under_engine_contract

REPO_ROOT = Path(__file__).resolve().parents[2]
# The Azure-shaped mocks live with the component tests; reuse them rather than keep a second copy.
sys.path.insert(0, str(REPO_ROOT / "tests" / "components"))
from components_mocks import RecordingMocks  # noqa: E402 - found through the sys.path entry above

STACK_FILES = sorted(REPO_ROOT.glob("Pulumi.*.yaml"))
STACK = "urn:pulumi:dev::batchforge"


class EchoMocks(pulumi.runtime.Mocks):
    """Creates every resource with its inputs as outputs."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, []


class Thing(pulumi.CustomResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("test:index:Thing", name, {"size": 1, "computed": None}, opts)


class Box(pulumi.ComponentResource):
    """A component whose child is named ``child_name`` (a template for the badly named child)."""

    def __init__(self, name: str, child_name: str | None = None, *, register: bool = True) -> None:
        super().__init__("test:components:Box", name)
        self.thing = Thing(child_name or f"{name}-thing", pulumi.ResourceOptions(parent=self))
        if register:
            self.register_outputs({"thing": self.thing.id})


def _refusal(program: Any, mode: Mode) -> list[str]:
    with pytest.raises(EngineContractViolation) as refused:
        run_under_engine_contract(EchoMocks, program, stack="dev", modes=(mode,))
    assert refused.value.mode == mode
    assert str(refused.value).splitlines()[0] == f"the Pulumi engine would refuse this program ({mode}):"
    return list(refused.value.problems)


@pytest.mark.parametrize("mode", BOTH_MODES)
@pytest.mark.parametrize("stack_file", STACK_FILES, ids=[path.name for path in STACK_FILES])
def test_every_stack_passes_the_engine_contract(stack_file: Path, mode: Mode):
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    config = to_pulumi_config(yaml.safe_load(stack_file.read_text())["config"])

    def program() -> None:
        runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__main__")

    result = run_under_engine_contract(RecordingMocks, program, stack=stack, config=config, modes=(mode,))
    declared = [r for r in result.registrations.values() if r.type != "pulumi:pulumi:Stack"]
    # Every resource the mocks created has a URN of its own: nothing was silently overwritten.
    assert len(declared) == len(result.mocks.resources) > 10
    pools = [r for r in declared if r.type == "azure-native:batch:Pool"]
    assert len(pools) == len(yaml.safe_load(stack_file.read_text())["config"]["batchforge:pools"])


def test_urns_carry_the_parents_whole_type_chain_but_not_the_root_stack():
    root = engine_urn("prod", "batchforge", "", "pulumi:pulumi:Stack", "batchforge-prod")
    assert root == "urn:pulumi:prod::batchforge::pulumi:pulumi:Stack::batchforge-prod"
    pool = engine_urn("prod", "batchforge", root, "batchforge:components:BatchPool", "pool-cpu")
    assert pool == "urn:pulumi:prod::batchforge::batchforge:components:BatchPool::pool-cpu"
    child = engine_urn("prod", "batchforge", pool, "azure-native:batch:Pool", "pool")
    assert child == "urn:pulumi:prod::batchforge::batchforge:components:BatchPool$azure-native:batch:Pool::pool"
    grandchild = engine_urn("prod", "batchforge", child, "test:index:Thing", "pool-x")
    assert grandchild == (
        "urn:pulumi:prod::batchforge::batchforge:components:BatchPool$azure-native:batch:Pool$test:index:Thing::pool-x"
    )


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_two_components_naming_their_child_alike_register_one_urn_twice(mode: Mode):
    def program() -> None:
        Box("pool-cpu", "pool")
        Box("pool-mpi", "pool")

    problems = _refusal(program, mode)
    duplicate = f"test:index:Thing 'pool' ({STACK}::test:components:Box$test:index:Thing::pool)"
    assert f"{duplicate}: URN registered twice; give each resource a unique name" in problems


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_two_top_level_resources_with_one_name_are_refused(mode: Mode):
    def program() -> None:
        Thing("same")
        Thing("same")

    assert _refusal(program, mode) == [
        f"test:index:Thing 'same' ({STACK}::test:index:Thing::same): URN registered twice; give each resource a "
        "unique name"
    ]


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_a_child_not_named_after_its_component_is_refused(mode: Mode):
    assert _refusal(lambda: Box("alpha", "storage") and None, mode) == [
        f"test:index:Thing 'storage' ({STACK}::test:components:Box$test:index:Thing::storage): child of component "
        "test:components:Box 'alpha' must be named 'alpha-<something>' (two instances of the component would collide)"
    ]


def test_children_named_after_their_component_pass():
    result = run_under_engine_contract(EchoMocks, lambda: Box("alpha") and None, stack="dev")
    assert f"{STACK}::test:components:Box$test:index:Thing::alpha-thing" in result.registrations


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_a_dependency_on_an_unregistered_urn_is_refused(mode: Mode):
    ghost = f"{STACK}::test:index:Thing::ghost"

    def program() -> None:
        Thing("real", pulumi.ResourceOptions(depends_on=[DependencyResource(ghost)]))

    assert _refusal(program, mode) == [
        f"test:index:Thing 'real' ({STACK}::test:index:Thing::real): depends on {ghost}, which was never registered"
    ]


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_a_property_dependency_on_an_unregistered_urn_is_refused(mode: Mode):
    ghost = f"{STACK}::test:index:Thing::ghost"

    class Sized(pulumi.CustomResource):
        def __init__(self, name: str, size: pulumi.Input[int]) -> None:
            super().__init__("test:index:Sized", name, {"size": size})

    def program() -> None:
        Sized("real", DependencyResource(ghost).urn.apply(lambda _: 3))

    assert _refusal(program, mode) == [
        f"test:index:Sized 'real' ({STACK}::test:index:Sized::real): depends on {ghost}, which was never registered"
    ]


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_a_parent_never_registered_is_refused(mode: Mode):
    from pulumi.runtime import settings
    from pulumi.runtime.proto import resource_pb2

    ghost = f"{STACK}::test:components:Box::ghost"

    def program() -> None:
        # The SDK cannot build this registration; a language host talking to the engine directly could.
        request = resource_pb2.RegisterResourceRequest(
            type="test:index:Thing", name="orphan", parent=ghost, custom=True
        )
        settings.get_monitor().RegisterResource(request)

    assert _refusal(program, mode) == [
        f"test:index:Thing 'orphan' ({STACK}::test:components:Box$test:index:Thing::orphan): parent {ghost} was "
        "never registered"
    ]


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_a_component_without_register_outputs_is_refused(mode: Mode):
    assert _refusal(lambda: Box("silent", register=False) and None, mode) == [
        f"test:components:Box 'silent' ({STACK}::test:components:Box::silent): component never calls register_outputs"
    ]


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_one_alias_claimed_by_two_resources_is_refused(mode: Mode):
    def program() -> None:
        Thing("first", pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old")]))
        Thing("second", pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old")]))

    problems = _refusal(program, mode)
    assert len(problems) == 1 and f"alias {STACK}::test:index:Thing::old is also claimed by" in problems[0]


def test_a_preview_leaves_computed_outputs_unknown_and_an_update_knows_them():
    seen: dict[str, list[Any]] = {"preview": [], "update": []}

    def program_for(mode: Mode) -> Any:
        def program() -> None:
            thing = Thing("thing")
            thing.id.apply(seen[mode].append)

        return program

    for mode in BOTH_MODES:
        run_under_engine_contract(EchoMocks, program_for(mode), stack="dev", modes=(mode,))
    assert seen == {"preview": [], "update": ["thing-id"]}


def test_promote_refuses_a_program_the_engine_would_refuse(monkeypatch):
    import components.stack
    from batchforge.promotion.promote import check_promotion

    def duplicated(config: Any, stack: str, repo_root: Path) -> dict[str, Any]:
        Box("pool-cpu", "pool")
        Box("pool-mpi", "pool")
        return {}

    monkeypatch.setattr(components.stack, "build_stack", duplicated)
    report = check_promotion("prod", REPO_ROOT)
    (policy,) = [check for check in report.checks if check.name == "policy"]
    assert not policy.passed
    assert policy.summary == "the Pulumi engine would refuse the program (preview)"
    assert any("URN registered twice" in detail for detail in policy.details), policy.details
