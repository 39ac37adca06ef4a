"""The loader end to end: every error at once with its line, kinds, apiVersions, Scenario ``apply``
documents up front, and errors blamed on the flag that caused them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli.common import load_overrides
from meshsim.cli.main import app
from meshsim.config.loader import load
from meshsim.errors import ConfigError, ConfigErrors

runner = CliRunner()

TOPO = """\
services:
- name: a
  isEntrypoint: true
  script:
  - sleep: 1ms
"""
LOAD = """\
---
apiVersion: meshsim.io/v1alpha1
kind: LoadProfile
metadata: {name: l}
spec:
  rate: 5
  duration: 1s
  warmup: 0s
  drain: 1s
"""


def _file(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


def _errors(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert "Traceback" not in result.output
    return [ln for ln in result.output.splitlines() if ln.startswith(("error:", "Error ["))]


def test_validate_lists_every_error_each_with_its_line(tmp_path: Path) -> None:
    f = _file(
        tmp_path,
        TOPO
        + """\
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a}
spec:
  host: a
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: -1}
      http: {http1MaxPendingRequests: -5}
    outlierDetection:
      interval: 0s
      consecutive5xxErrors: -2
""",
    )
    r = runner.invoke(app, ["validate", str(f)])
    assert r.exit_code == 2
    errs = _errors(r)
    assert len(errs) == 4, r.output
    assert "more error" not in r.output
    by_field = {e.split(") ", 1)[1].split(": ")[0]: e for e in errs}
    assert by_field["spec.trafficPolicy.connectionPool.tcp.maxConnections"].startswith(
        f"Error [MSH0106] (DestinationRule a.default {f}:14)"
    )
    assert f"{f}:15)" in by_field["spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests"]
    assert "at least 1ms" in by_field["spec.trafficPolicy.outlierDetection.interval"]
    assert f"{f}:17)" in by_field["spec.trafficPolicy.outlierDetection.interval"]
    assert f"{f}:18)" in by_field["spec.trafficPolicy.outlierDetection.consecutive5xxErrors"]


def test_errors_across_documents_are_all_reported(tmp_path: Path) -> None:
    f = _file(tmp_path, TOPO.replace("1ms", "1 parsec") + LOAD.replace("rate: 5", "rate: -5"))
    with pytest.raises(ConfigErrors) as e:
        load([str(f)])
    assert [(x.loc, x.source.split(" ")[0]) for x in e.value.errors] == [
        ("services[0].script[0].sleep.value", f"{f}:5"),
        ("spec.rate", f"{f}:11"),
    ]


def test_unknown_kind_in_a_known_group_is_an_error(tmp_path: Path) -> None:
    for api, kind in (
        ("networking.istio.io/v1", "VirtualServce"),
        ("security.istio.io/v1", "PeerAuth"),
        ("meshsim.io/v1alpha1", "LoadProfil"),
    ):
        f = _file(tmp_path, TOPO + f"---\napiVersion: {api}\nkind: {kind}\nmetadata: {{name: x}}\n")
        r = runner.invoke(app, ["validate", str(f)])
        assert r.exit_code == 2, r.output
        (err,) = _errors(r)
        assert f"{f}:8" in err and f"unknown kind '{kind}'" in err


@pytest.mark.parametrize(
    ("api", "kind", "want"),
    [
        ("v1", "LoadProfile", "meshsim.io/v1alpha1"),
        ("meshsim.io/v1", "LoadProfile", "meshsim.io/v1alpha1"),
        ("networking.istio.io/v2", "VirtualService", "networking.istio.io/v1"),
        ("networking.istio.io/v1", "PeerAuthentication", "security.istio.io/v1"),
        ("security.istio.io/v1", "VirtualService", "networking.istio.io/v1"),
        ("apps/v1beta1", "Deployment", "apps/v1"),
    ],
)
def test_known_kind_under_the_wrong_api_version_is_an_error(tmp_path: Path, api: str, kind: str, want: str) -> None:
    f = _file(tmp_path, TOPO + f"---\napiVersion: {api}\nkind: {kind}\nmetadata: {{name: x}}\nspec: {{}}\n")
    with pytest.raises(ConfigError) as e:
        load([str(f)])
    assert e.value.loc == "apiVersion" and want in e.value.message and f"{f}:7" in e.value.source


def test_a_mistyped_load_profile_no_longer_runs_at_the_default_rate(tmp_path: Path) -> None:
    f = _file(tmp_path, TOPO + LOAD.replace("meshsim.io/v1alpha1", "meshsim.io/v1alpha"))
    r = runner.invoke(app, ["run", str(f), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 2 and "apiVersion" in r.output
    assert not (tmp_path / "o").exists()


def test_unknown_kind_elsewhere_is_a_warning_that_run_prints(tmp_path: Path) -> None:
    f = _file(
        tmp_path,
        TOPO + LOAD + "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
        "---\napiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: d}\n",
    )
    r = runner.invoke(app, ["run", str(f), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 0, r.output
    assert "Warning [MSH0218]" in r.output and "unknown kind 'Widget'" in r.output
    assert "unknown Kubernetes kind 'Deploymnet'" in r.output
    cfg = load([str(f)])
    assert {n.level for n in cfg.notes if "Widget" in n.message or "Deploymnet" in n.message} == {"warning"}


def test_ordinary_kubernetes_kinds_are_skipped_quietly(tmp_path: Path) -> None:
    """A ServiceAccount says nothing (its name, the mTLS identity, is read from the Deployments'
    serviceAccountName); other kinds that do not affect the simulation get one summary line."""
    sa = "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: %s}\n"
    cm = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n"
    f = _file(tmp_path, TOPO + "".join(sa % n for n in "abcd") + cm % "x" + cm % "y")
    cfg = load([str(f)])
    assert not [n for n in cfg.notes if "ServiceAccount" in n.message]
    (note,) = [n for n in cfg.notes if "ConfigMap" in n.message]
    assert note.level == "info" and note.message == "Kubernetes ConfigMap (2) does not affect the simulation; skipped"


def test_empty_file_is_an_error_naming_it(tmp_path: Path) -> None:
    f = _file(tmp_path, "# only a comment\n", "empty.yaml")
    other = _file(tmp_path, TOPO)
    with pytest.raises(ConfigError) as e:
        load([str(other), str(f)])
    assert str(e.value) == f"{f}: holds no YAML document (empty, or only comments)"


def test_scenario_apply_documents_are_validated_up_front(tmp_path: Path) -> None:
    f = _file(
        tmp_path,
        TOPO
        + """\
---
apiVersion: meshsim.io/v1alpha1
kind: Scenario
metadata: {name: s}
spec:
  events:
  - at: 1s
    apply:
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: a}
      spec:
        hosts: [a]
        http:
        - route:
          - destination: {host: a}
            weight: heavy
  - at: 2s
    apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
""",
    )
    r = runner.invoke(app, ["validate", str(f)])
    assert r.exit_code == 2
    errs = _errors(r)
    assert len(errs) == 2, r.output
    assert (
        f"(Scenario s.default {f}:22) spec.events[0].apply.spec.http[0].route[0].weight: Input should be a valid integer"
        in errs[0]
    )
    assert "spec.events[1].apply.kind" in errs[1] and "VirtualService or DestinationRule" in errs[1]
    assert "after the scenario" not in r.output


def test_flag_errors_are_blamed_on_the_flag(tmp_path: Path) -> None:
    f = _file(tmp_path, TOPO + LOAD)
    with pytest.raises(ConfigError) as e:
        load([str(f)], load_overrides(None, None, "10 sec", None))
    assert str(e.value).endswith("got '10 sec' (from --duration)")
    assert e.value.loc == "spec.duration"
    with pytest.raises(ConfigError) as e:
        load([str(f)], load_overrides(["LoadProfile.spec.rate=fast"], None, None, None))
    assert str(e.value).endswith("(from --set LoadProfile.spec.rate=fast)")
    with pytest.raises(ConfigError) as e:
        load([str(f)], load_overrides(None, None, "0s", None))
    assert str(e.value).endswith("duration must be > 0 (from --duration)")
    # an error the file itself holds is still the file's, with its line
    g = _file(tmp_path, TOPO + LOAD.replace("rate: 5", "rate: fast"), "g.yaml")
    with pytest.raises(ConfigError) as e:
        load([str(g)], load_overrides(None, None, "2s", None))
    assert f"{g}:11 " in str(e.value) and "(from" not in str(e.value)


def test_run_blames_the_flag_on_the_command_line(tmp_path: Path) -> None:
    f = _file(tmp_path, TOPO + LOAD)
    r = runner.invoke(app, ["run", str(f), "--duration", "10 sec", "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 2
    (err,) = _errors(r)
    assert "(from --duration)" in err


def test_a_huge_value_is_not_echoed_whole(tmp_path: Path) -> None:
    f = _file(tmp_path, TOPO.replace("  script:", f'  errorRate: "{"x" * 2_000_000}"\n  script:'))
    r = runner.invoke(app, ["validate", str(f)])
    assert r.exit_code == 2
    (err,) = _errors(r)
    assert len(err) < 400 and "services[0].errorRate" in err and str(f) in err


def test_flag_overrides_survive_pickling_and_copying() -> None:
    import copy
    import pickle

    (o,) = load_overrides(None, 5.0, None, None)
    for x in (pickle.loads(pickle.dumps(o)), copy.deepcopy(o)):
        assert x == "LoadProfile.spec.rate=5.0" and x.origin == "--rps"  # type: ignore[attr-defined]
