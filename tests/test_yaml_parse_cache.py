"""Parsed YAML is kept by text: a file read again parses once; every caller still gets its own data."""

from __future__ import annotations

import pytest

from batchforge.core import InvalidInput, yaml_files
from batchforge.core.yaml_files import clear_parse_cache, parse_yaml

TEXT = "id: a\nshared: &s {x: [1, 2]}\nagain: *s\n"


def test_a_second_parse_of_the_same_text_does_not_run_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_parse_cache()
    calls: list[str] = []
    parse = yaml_files._parse_yaml
    monkeypatch.setattr(yaml_files, "_parse_yaml", lambda text, source: calls.append(source) or parse(text, source))

    first = parse_yaml(TEXT, "one.yaml")
    second = parse_yaml(TEXT, "two.yaml")

    assert calls == ["one.yaml"]
    assert first == second == {"id": "a", "shared": {"x": [1, 2]}, "again": {"x": [1, 2]}}


def test_each_caller_gets_its_own_copy_with_aliases_still_shared_inside_it() -> None:
    clear_parse_cache()
    first = parse_yaml(TEXT, "a.yaml")
    first["shared"]["x"].append(3)
    first["id"] = "changed"

    second = parse_yaml(TEXT, "a.yaml")

    assert second == {"id": "a", "shared": {"x": [1, 2]}, "again": {"x": [1, 2]}}
    assert second["shared"] is second["again"]  # an alias is one object, as the parser makes it


def test_a_refused_document_is_refused_every_time_naming_each_source() -> None:
    clear_parse_cache()
    bad = "a: 1\na: 2\n"
    for source in ("first.yaml", "second.yaml"):
        with pytest.raises(InvalidInput) as refused:
            parse_yaml(bad, source)
        assert source in str(refused.value) and "duplicate key 'a'" in str(refused.value)
