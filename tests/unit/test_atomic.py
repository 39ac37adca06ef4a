"""Atomic result files: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim import atomic


def test_write_replaces_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    p = tmp_path / "summary.json"
    p.write_text("old")
    atomic.write_text(p, '{"new": 1}\n')
    assert p.read_text() == '{"new": 1}\n'
    assert [f.name for f in tmp_path.iterdir()] == ["summary.json"]


def test_a_failing_writer_keeps_the_previous_file(tmp_path: Path) -> None:
    p = tmp_path / "summary.json"
    p.write_text("old and complete")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), atomic.atomic_path(p) as tmp:
        tmp.write_text("half")
        raise Boom
    assert p.read_text() == "old and complete"
    assert [f.name for f in tmp_path.iterdir()] == ["summary.json"]


def test_temporary_is_in_the_same_directory_with_the_same_suffix(tmp_path: Path) -> None:
    p = tmp_path / "out.parquet"
    with atomic.atomic_path(p) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".parquet" and tmp.name.startswith(".")
        tmp.write_bytes(b"x")
    assert p.read_bytes() == b"x"


def test_figures_and_frames(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    atomic.save_figure(fig, tmp_path / "f.png", dpi=50)
    plt.close(fig)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    atomic.to_csv(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.csv", index=False)
    assert (tmp_path / "t.csv").read_text() == "a\n1\n2\n"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["f.png", "t.csv"]
