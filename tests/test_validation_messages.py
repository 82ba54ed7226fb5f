from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from batchforge.core import InvalidInput, Problem, parse_yaml, problems_from_validation_error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Scale(_Strict):
    dedicated_nodes: int = Field(ge=0)


class Pool(_Strict):
    id: str
    vm_size: str
    mode: Literal["fixed", "auto"] = "fixed"
    scale: Scale | None = None


class Stack(_Strict):
    pools: list[Pool]


def _problems(data: object) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Stack.model_validate(data)
    return [str(p) for p in problems_from_validation_error(caught.value, Stack, "Pulumi.prod.yaml")]


def test_every_problem_is_listed_with_file_and_key_path():
    assert _problems(
        {"pools": [{"id": "a", "vmSize": "x"}, {"id": "b", "vmSize": 3, "scale": {"dedicatedNodes": -1}}]}
    ) == [
        "Pulumi.prod.yaml: pools[1].vmSize: must be a string",
        "Pulumi.prod.yaml: pools[1].scale.dedicatedNodes: must be >= 0",
    ]


def test_unknown_key_suggests_the_closest_known_key():
    assert _problems({"pools": [{"id": "a", "vmSzie": "x", "vmSize": "y"}]}) == [
        "Pulumi.prod.yaml: pools[0].vmSzie: unknown key; did you mean 'vmSize'?"
    ]


def test_unknown_key_inside_optional_submodel_is_found():
    assert _problems({"pools": [{"id": "a", "vmSize": "y", "scale": {"dedicated": 1, "dedicatedNodes": 1}}]}) == [
        "Pulumi.prod.yaml: pools[0].scale.dedicated: unknown key; did you mean 'dedicatedNodes'?"
    ]


def test_missing_and_literal_messages():
    assert _problems({"pools": [{"vmSize": "y", "mode": "manual"}]}) == [
        "Pulumi.prod.yaml: pools[0].id: is required",
        "Pulumi.prod.yaml: pools[0].mode: must be one of 'fixed' or 'auto'",
    ]


def test_yaml_syntax_error_names_file_and_line():
    with pytest.raises(InvalidInput) as caught:
        parse_yaml("pools:\n  - id: a\n   vmSize: b\n", "Pulumi.dev.yaml")
    assert str(caught.value).startswith("Pulumi.dev.yaml: line 3, column 4: invalid YAML:")


def test_duplicate_yaml_keys_are_rejected():
    with pytest.raises(InvalidInput) as caught:
        parse_yaml("a: 1\nb: 2\na: 3\n", "w.yaml")
    assert "duplicate key 'a'" in str(caught.value)


def test_invalid_input_renders_one_line_per_problem_without_duplicates():
    error = InvalidInput([Problem("f.yaml", "a", "bad"), Problem("f.yaml", "", "worse"), Problem("f.yaml", "a", "bad")])
    assert str(error) == "f.yaml: a: bad\nf.yaml: worse"


def test_duration_errors_say_what_a_duration_looks_like():
    from datetime import timedelta

    class Timed(_Strict):
        limit: timedelta

    with pytest.raises(ValidationError) as caught:
        Timed.model_validate({"limit": "soon"})
    assert [str(p) for p in problems_from_validation_error(caught.value, Timed, "w.yaml")] == [
        "w.yaml: limit: must be a duration such as PT1H or 01:00:00"
    ]


def test_file_modes_are_octal_strings():
    from batchforge.core.fields import FileMode

    class Resource(_Strict):
        file_mode: FileMode | None = None

    assert Resource.model_validate({"fileMode": "0755"}).file_mode == "0755"
    with pytest.raises(ValidationError) as caught:
        Resource.model_validate({"fileMode": "rwxr-xr-x"})
    assert [str(p) for p in problems_from_validation_error(caught.value, Resource, "w.yaml")] == [
        "w.yaml: fileMode: must be an octal file mode such as '0755'"
    ]
