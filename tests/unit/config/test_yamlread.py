"""The bounded YAML reader: hostile or malformed files get one line naming the file and line."""

from __future__ import annotations

import time

import pytest

from meshsim.config.limits import MAX_YAML_DEPTH, MAX_YAML_NODES
from meshsim.config.yamlread import line_of, read_yaml
from meshsim.errors import ConfigError


def _read(text: str | bytes) -> list[tuple[int, object, dict]]:
    data = text.encode() if isinstance(text, str) else text
    return list(read_yaml(data, "f.yaml"))


def test_line_numbers_of_keys_and_items() -> None:
    docs = _read("a: 1\nb:\n  - x\n  - y: 2\n---\nc: 3\n")
    assert [i for i, _, _ in docs] == [1, 2]
    _, data, lines = docs[0]
    assert data == {"a": 1, "b": ["x", {"y": 2}]}
    assert lines[("a",)] == 1 and lines[("b", 0)] == 3 and lines[("b", 1, "y")] == 4
    assert docs[1][2][("c",)] == 6
    # a path below a known one takes the nearest enclosing line
    assert line_of(lines, ("b", 1, "y", "deeper")) == 4
    assert line_of(None, ("a",)) is None


def test_duplicate_key_is_an_error_with_both_lines() -> None:
    with pytest.raises(ConfigError) as e:
        _read("spec:\n  rate: 5\n  rate: 100\n")
    assert str(e.value) == "f.yaml: line 3: duplicate key 'rate' (first at line 2); YAML would keep only the last"


def test_merge_keys_may_be_overridden_explicitly() -> None:
    ((_, data, _),) = _read("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n")
    assert data["d"] == {"x": 1, "y": 3}


def test_billion_laughs_is_refused_quickly() -> None:
    text = "l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n"
    for i in range(1, 10):
        text += f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n"
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        _read(text)
    assert time.perf_counter() - t0 < 5
    assert f"more than {MAX_YAML_NODES} nodes" in str(e.value)


def test_a_few_aliases_are_fine() -> None:
    ((_, data, _),) = _read("d: &d {sleep: 1ms}\nservices:\n- {name: a, script: [*d]}\n- {name: b, script: [*d]}\n")
    assert data["services"][1]["script"] == [{"sleep": "1ms"}]


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError) as e:
        _read("a: &a [1, *a]\n")
    assert "recursive YAML alias" in str(e.value)


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    with pytest.raises(ConfigError) as e:
        _read("services: " + "[" * 1000 + "]" * 1000 + "\n")
    assert f"deeper than {MAX_YAML_DEPTH} levels" in str(e.value)
    _read("a: " + "[" * (MAX_YAML_DEPTH - 2) + "]" * (MAX_YAML_DEPTH - 2) + "\n")  # just within the bound


def test_nul_byte_names_its_line() -> None:
    with pytest.raises(ConfigError) as e:
        _read(b"services:\n- name: a\x00\n")
    assert str(e.value) == "f.yaml: line 2: contains a NUL byte; YAML is text"


def test_invalid_utf8_and_syntax_errors() -> None:
    with pytest.raises(ConfigError, match="line 2: is not UTF-8 text"):
        _read(b"a: 1\nb: \xff\n")
    with pytest.raises(ConfigError, match=r"line 2, column \d+: invalid YAML"):
        _read("a: [1\nb: 2\n")


def test_control_character_names_its_line() -> None:
    with pytest.raises(ConfigError) as e:
        _read(b"a: 1\nb: x\x01y\n")
    assert str(e.value) == "f.yaml: line 2: invalid YAML: control character '\\x01' is not allowed"


def test_python_tags_are_refused() -> None:
    with pytest.raises(ConfigError, match="invalid YAML"):
        _read("a: !!python/object/apply:os.system ['true']\n")
