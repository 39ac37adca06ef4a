"""List the Istio tests and istiod code paths the conformance cases were built from.

Usage::

    python tests/conformance/istio/refresh_sources.py ISTIO [--rev REV] [--markdown]

``ISTIO`` is a local istio/istio checkout (a work tree, or a git directory read with ``--rev``,
default ``HEAD``). For every Istio file the cases cite (``source.file`` in each ``expect.yaml``) it
prints the Go test functions (``func TestX``) and the sub-test names (``name: "..."`` entries,
``t.Run("...")`` calls and table entries that open with their name) with their line numbers, marking those a case cites, and lists cited tests
it can no longer find (renamed or removed upstream: the cases citing them need a look). With
``--markdown`` it prints the body of ``SOURCES.md`` instead. Needs no network; the test suite never
runs it.

Exit status: 0, or 1 if a cited test is missing from the checkout, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
_FUNC = re.compile(r"^func (Test\w+)\(")
_SUB = re.compile(r'^\s*(?:name:\s*|t\.Run\()\s*"([^"]+)"')
_POSITIONAL = re.compile(r'^\s*"([^"]+)",\s*$')  # a test table entry whose first field is its name


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def cases() -> list[tuple[str, dict]]:
    """(case directory name, its ``source`` mapping) for every case, sorted by name."""
    out = []
    for d in sorted(p for p in HERE.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        out.append((d.name, yaml.safe_load((d / "expect.yaml").read_text())["source"]))
    return out


def read(istio: Path, rev: str | None, path: str) -> str | None:
    """The text of ``path`` in the checkout (at ``rev`` through git when given), or None if absent."""
    if rev is None:
        f = istio / path
        return f.read_text() if f.exists() else None
    r = subprocess.run(["git", "-C", str(istio), "show", f"{rev}:{path}"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def tests_in(text: str) -> list[tuple[int, str]]:
    """(line, name) of every Go test function and sub-test name, in file order."""
    found = []
    prev = ""
    for i, line in enumerate(text.splitlines(), 1):
        m = _FUNC.match(line) or _SUB.match(line) or (_POSITIONAL.match(line) if prev.strip() == "{" else None)
        if m:
            found.append((i, m.group(1)))
        prev = line
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("istio", type=Path, help="istio/istio checkout (work tree or git directory)")
    ap.add_argument("--rev", default=None, help="read files with git show REV:path (default: the work tree)")
    ap.add_argument("--markdown", action="store_true", help="print the SOURCES.md body")
    args = ap.parse_args(argv)
    if not args.istio.exists():
        sys.stderr.write(f"error: {args.istio}: no such directory\n")
        return 2
    rev = args.rev
    if rev is None and not (args.istio / "pilot").exists():
        rev = "HEAD"  # a git directory without a work tree
    by_file: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for name, src in cases():
        by_file[src["file"]].append((name, src))
    missing = 0
    if args.markdown:
        commits = sorted({src["commit"] for _, src in cases()})
        _out("# Istio sources of the conformance cases\n")
        _out(
            f"istio/istio commit(s): {', '.join(commits)}. Regenerate with `refresh_sources.py <checkout> --markdown`.\n"
        )
        _out("Each case's input and expectations are written in this repository's own YAML; the expected Envoy fields")
        _out("are facts read from the Istio test or istiod code path named below (file, test or function, commit),")
        _out(
            "never meshsim's output. Envoy's defaults the comparison relies on are cited in test_istio_conformance.py.\n"
        )
    for path in sorted(by_file):
        text = read(args.istio, rev, path)
        cited = defaultdict(list)
        for name, src in by_file[path]:
            cited[src.get("test") or f"(code) {src.get('code', '')}"].append(name)
        if args.markdown:
            _out(f"## `{path}` ({len(by_file[path])} cases)\n")
            for what in sorted(cited):
                _out(f"- {what}: {', '.join(cited[what])}")
            _out("")
            continue
        _out(f"{path}: {len(by_file[path])} cases" + ("" if text is not None else "  (NOT IN CHECKOUT)"))
        if text is None:
            missing += 1
            continue
        found = tests_in(text)
        names = {n for _, n in found}
        wanted = {p.split(" (")[0] for t in cited if not t.startswith("(code)") for p in t.split("/")}
        for line, n in found:
            _out(f"  {'*' if n in wanted else ' '} {line:5d} {n}")
        for t in sorted(cited):
            if not t.startswith("(code)") and not all(p.split(" (")[0] in names for p in t.split("/")):
                _out(f"  MISSING {t}: cited by {', '.join(cited[t])}")
                missing += 1
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
