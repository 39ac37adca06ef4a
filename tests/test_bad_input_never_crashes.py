"""Property-based fuzzing: mutations of the shipped examples through the in-process CLI end in exit
0/1, or exit 2 with one-line errors naming the file and a field path (or line), never a traceback or
a hang; the inputs are never modified.

Seeded (``derandomize=True``): the same cases run every time, so a failure reproduces.
"""

from __future__ import annotations

import contextlib
import re
import resource
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.config.yamlread import read_yaml
from meshsim.errors import ConfigError
from tests.conftest import ROOT

runner = CliRunner()

EXAMPLES: list[list[str]] = [
    ["topologies/bookinfo"],
    ["topologies/mm1"],
    ["topologies/mmc"],
    ["topologies/storm/mesh", "topologies/storm/mitigations/retry-budget.yaml"],
    [
        "topologies/bookinfo/topology.yaml",
        "topologies/bookinfo/load.yaml",
        "topologies/bookinfo/platform",
        "topologies/bookinfo-samples/destination-rule-all.yaml",
        "topologies/bookinfo-samples/virtual-service-reviews-jason-v2-v3.yaml",
        "topologies/bookinfo-samples/bookinfo-gateway.yaml",
    ],
    [
        "topologies/bookinfo/topology.yaml",
        "topologies/bookinfo/platform",
        "topologies/bookinfo/destination-rule-all.yaml",
        "topologies/canary/canary.yaml",
    ],
]
"""Input sets that validate cleanly as shipped (several files each, so documents interact)."""

RUNNABLE = [1, 2, 3]
"""Examples small enough to also simulate per case."""


def _expand(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        full = ROOT / p
        out.extend(str(f.relative_to(ROOT)) for f in sorted(full.rglob("*.yaml"))) if full.is_dir() else out.append(p)
    return out


FILES = [_expand(e) for e in EXAMPLES]
TEXTS = {f: (ROOT / f).read_bytes() for files in FILES for f in files}

HOSTILE: list[Any] = [
    float("inf"),
    float("-inf"),
    float("nan"),
    -1,
    0,
    -0.5,
    1e12,
    10**20,
    2**31,
    "",
    None,
    [],
    {},
    True,
    "(",
    "garbage",
    "1 parsec",
    "-5s",
    "0s",
    "0.5ms",
    "100000000",
    "x" * 100_000,
    [[[[]]]],
    {"dist": "uniform", "min": float("nan"), "max": 1},
    {"dist": "exponential", "mean": float("inf")},
    {"regex": "("},
    {"unknownField": 1},
]

TEXT_MUTATIONS = ["truncate", "nul", "duplicate-line", "alias-bomb", "deep", "byte", "empty", "tab", "append-doc"]

WHOLE_CONFIG_MESSAGES = (
    "no MockServiceGraph topology found",
    "a second ",
    "holds no YAML document",
    "cannot tell the entry service",
    "directory holds no",
)
"""Errors about the input set as a whole, which name the files but no single field."""

MAX_RSS_KB = 3 * 1024**2
"""Peak resident memory of the test process, KB (Linux ``ru_maxrss``): 3 GiB, far above what any
case needs (the suite runs in a few hundred MB) and far below what an alias bomb or 10^8 pods take."""

FIELD_OR_LINE = re.compile(r"(\.yaml:\d+[ )]|line \d+|\.yaml[^:]*: [\w\[\]\.=/-]+: |\.yaml\) [\w\[\]\.=/-]+: )")
"""A field path or a line: ``file.yaml:12 (Kind name)`` (run's errors), ``(Kind name.ns file.yaml:12)``
or ``(Kind name.ns file.yaml) field:`` (validate's messages, in istioctl analyze's form)."""


class _Hang(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise _Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _paths(docs: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(docs, dict):
        for k, v in docs.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(docs, list):
        for i, v in enumerate(docs):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _structural(text: bytes, data: st.DataObject) -> bytes:
    try:  # meshsim's bounded reader: an earlier mutation may have added an alias bomb or deep nesting
        docs = [d for _, d, _ in read_yaml(text, "mutated.yaml") if d is not None]
    except ConfigError:
        return _textual(text, data)
    paths = list(_paths(docs))
    if not paths:
        return _textual(text, data)
    path = paths[data.draw(st.integers(0, len(paths) - 1), label="path")]
    parent: Any = docs
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    op = data.draw(st.sampled_from(["value", "value", "value", "delete", "add", "rename"]), label="op")
    if op == "value":
        parent[last] = data.draw(st.sampled_from(HOSTILE), label="value")
    elif op == "delete":
        del parent[last]
    elif op == "add" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(["extra", "rate", "kind", "apiVersion", "spec"]))] = data.draw(
            st.sampled_from(HOSTILE)
        )
    elif op == "rename" and isinstance(parent, dict) and isinstance(parent.get(last), str):
        value = parent[last]
        parent[last] = value[:-1] if value else "x"
    return yaml.safe_dump_all(docs, sort_keys=False).encode()


def _textual(text: bytes, data: st.DataObject) -> bytes:
    op = data.draw(st.sampled_from(TEXT_MUTATIONS), label="text-op")
    pos = data.draw(st.integers(0, max(len(text) - 1, 0)), label="pos")
    lines = text.splitlines(keepends=True)
    if op == "nul":
        return text[:pos] + b"\0" + text[pos:]
    if op == "truncate":
        return text[: max(pos, 1)]
    if op == "duplicate-line" and lines:
        i = pos % len(lines)
        return b"".join(lines[: i + 1] + lines[i:])
    if op == "alias-bomb":
        bomb = "l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n" + "".join(
            f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 9)
        )
        return text + b"\n---\n" + bomb.encode()
    if op == "deep":
        return text + b"\n---\nx: " + b"[" * 3000 + b"]" * 3000 + b"\n"
    if op == "byte":
        byte = data.draw(st.sampled_from([*range(32, 127), 1, 9, 10, 27, 127, 0xC3, 0xFF]), label="byte")
        return text[:pos] + bytes([byte]) + text[pos + 1 :]
    if op == "empty":
        return b""
    if op == "tab" and lines:
        i = pos % len(lines)
        return b"".join([*lines[:i], b"\t" + lines[i], *lines[i + 1 :]])
    return text + b"\n---\napiVersion: meshsim.io/v1alpha1\nkind: LoadProfile\nspec: {rate: .inf}\n"


def _mutated(example: int, data: st.DataObject) -> dict[str, bytes]:
    files = FILES[example]
    out = {f: TEXTS[f] for f in files}
    for _ in range(data.draw(st.integers(1, 2), label="mutations")):
        f = files[data.draw(st.integers(0, len(files) - 1), label="file")]
        if data.draw(st.integers(0, 3), label="structural") > 0:  # 3 in 4 mutations change the documents
            out[f] = _structural(out[f], data)
        else:
            out[f] = _textual(out[f], data)
    return out


def _check(result: Any, tmp: Path, written: dict[Path, bytes]) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        errors = [ln for ln in result.output.splitlines() if ln.startswith(("error:", "Error ["))]
        assert errors, result.output
        for line in errors:
            assert str(tmp) in line, line
            assert FIELD_OR_LINE.search(line) or any(m in line for m in WHOLE_CONFIG_MESSAGES), line
            assert len(line) < 1000, line[:200]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < MAX_RSS_KB, "memory grew without bound"
    for path, data in written.items():  # nothing the user wrote is ever modified
        assert path.read_bytes() == data, path


def _write(tmp: Path, files: dict[str, bytes]) -> dict[Path, bytes]:
    written = {}
    for rel, data in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        written[p] = data
    return written


@pytest.mark.slow
@settings(
    max_examples=1000,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(example=st.integers(0, len(EXAMPLES) - 1), data=st.data())
def test_validate_answers_every_mutation_cleanly(example: int, data: st.DataObject) -> None:
    files = _mutated(example, data)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        written = _write(tmp, files)
        with _time_limit(30):
            result = runner.invoke(app, ["validate", *(str(tmp / p) for p in EXAMPLES[example])])
        _check(result, tmp, written)


@pytest.mark.slow
@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(example=st.sampled_from(RUNNABLE), data=st.data())
def test_run_answers_every_mutation_cleanly(example: int, data: st.DataObject) -> None:
    files = _mutated(example, data)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        written = _write(tmp, files)
        args = [
            "run",
            *(str(tmp / p) for p in EXAMPLES[example]),
            "--out",
            str(tmp / "out"),
            "-q",
            "--rps",
            "20",
            "--duration",
            "0.5s",
            "--warmup",
            "0s",
            "--set",
            "LoadProfile.spec.drain=1s",
        ]
        with _time_limit(60):
            result = runner.invoke(app, args)
        _check(result, tmp, written)
        if result.exit_code == 2:
            assert not (tmp / "out" / "summary.json").exists()
