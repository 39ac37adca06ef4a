"""Static checks over a loaded config, for everything a run would otherwise die on or silently diverge.

- **Call cycles and self-calls** (an error naming the cycle): a request that follows one never
  finishes, and expanding the call graph would not terminate.
- **Regexes** in VirtualService matches compiled with RE2, the engine Envoy uses
  (``envoy.type.matcher.v3.RegexMatcher`` with ``google_re2``), through the ``google-re2`` binding;
  a pattern RE2 rejects is an error (Envoy would reject the route), and so is one RE2 accepts but
  Python's ``re`` (the simulator's matcher) cannot compile. Without the binding: one warning, and
  patterns are checked with ``re`` only.
- **Pods in total** over :data:`~meshsim.config.limits.MAX_TOTAL_PODS`.
- **Run size**: a warning when ``run`` would refuse the config without ``--force``
  (:func:`~meshsim.config.limits.check_run_budget`).
- **Entry without pods** (:func:`check_model`, on the compiled model): load would arrive at a service
  with no pod and nowhere to go.

:func:`check_config` is called at the end of :func:`meshsim.config.loader.load`, so ``validate``,
``run`` and every other command get it; :func:`check_model` needs the compiled model.

The registry of finding codes lives in :mod:`meshsim.config.codes` and the istioctl-shaped messages in
:mod:`meshsim.config.messages`; both are re-exported here.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import networkx as nx

from meshsim.config.budget import estimate_run
from meshsim.config.codes import CHECKS, LEVELS, Check, check_of, codes_table, reported
from meshsim.config.istio import HTTPMatchRequest, StringMatch, VirtualService
from meshsim.config.limits import MAX_SIMULATED_CALLS, MAX_TOTAL_PODS
from meshsim.config.messages import AnalysisMessage, analysis_message, namespaces
from meshsim.config.topology import CallCmd, CallSpec
from meshsim.errors import Finding, format_loc
from meshsim.units import show

if TYPE_CHECKING:
    from meshsim.config.loader import MeshConfig, Source

__all__ = [
    "check_config",
    "check_regex",
    "with_lines",
    "located",
    "Check",
    "CHECKS",
    "LEVELS",
    "check_of",
    "reported",
    "AnalysisMessage",
    "analysis_message",
    "namespaces",
    "codes_table",
]

try:  # the binding of the RE2 library Envoy links
    import re2 as _re2
except ImportError:  # pragma: no cover - depends on the installed wheel
    _re2 = None


def check_regex(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used as Envoy's RE2 regex and meshsim's matcher, or None if it can."""
    if _re2 is not None:
        options = _re2.Options()
        options.log_errors = False  # the message comes back in the exception, not on stderr
        try:
            _re2.compile(pattern, options)
        except Exception as exc:  # the binding raises its own error type
            text = exc.args[0] if exc.args else exc
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            return f"invalid RE2 regex (Envoy rejects it): {text}"
    try:
        re.compile(pattern)
    except re.error as exc:
        if _re2 is None:
            return f"invalid regex: {exc}"
        return f"valid RE2, but meshsim's matcher (Python re) cannot compile it: {exc}"
    except (RecursionError, OverflowError, MemoryError):
        return "regex too complex to compile"
    return None


def _string_matches(m: HTTPMatchRequest) -> Iterator[tuple[tuple[str | int, ...], StringMatch]]:
    for name in ("uri", "scheme", "method", "authority"):
        sm = getattr(m, name)
        if sm is not None:
            yield (name,), sm
    for name in ("headers", "withoutHeaders", "queryParams"):
        for key, sm in (getattr(m, name) or {}).items():
            yield (name, key), sm


def _regex_findings(src: Source, vs: VirtualService, prefix: tuple[str | int, ...] = ()) -> list[Finding]:
    out = []
    for i, route in enumerate(vs.spec.http):
        for j, m in enumerate(route.match):
            for loc, sm in _string_matches(m):
                if sm.regex is None:
                    continue
                why = check_regex(sm.regex)
                if why is not None:
                    full = (*prefix, "spec", "http", i, "match", j, *loc, "regex")
                    out.append(Finding("error", src.at(full), format_loc(full), f"{why}: {show(sm.regex)}"))
    return out


def _host_service(host: str) -> str:
    return host.split(".", 1)[0]


def _call_graph(cfg: MeshConfig) -> tuple[nx.DiGraph, dict[str, tuple[str, str]]]:
    """Service call graph (a call to a host goes to the services its VirtualService routes to) and
    each service's (source, field path) for messages."""
    routes: dict[str, set[str]] = {}
    for doc in cfg.virtual_services:
        vs = doc.obj
        if vs.spec.gateways and "mesh" not in vs.spec.gateways:
            continue  # gateway-only routes do not apply to calls between sidecars
        dests = {_host_service(d.destination.host) for r in vs.spec.http for d in r.route}
        for h in vs.spec.hosts:
            if dests:
                routes.setdefault(_host_service(h), set()).update(dests)
    g: nx.DiGraph = nx.DiGraph()
    where: dict[str, tuple[str, str]] = {}
    for doc in cfg.topologies:
        graph = doc.obj
        for idx, svc in enumerate(graph.services):
            where.setdefault(svc.name, (doc.source.at(("services", idx, "script")), f"services[{idx}].script"))
            g.add_node(svc.name)
            script = svc.script if svc.script is not None else (graph.defaults.script or [])
            scripts = [script] + [v.script for v in (svc.versions or {}).values() if v.script is not None]
            for sc in scripts:
                for step in sc:
                    for cmd in step if isinstance(step, list) else [step]:
                        if not isinstance(cmd, CallCmd):
                            continue
                        target = cmd.call.service if isinstance(cmd.call, CallSpec) else cmd.call
                        host = _host_service(target)
                        for dest in routes.get(host, {host}):
                            g.add_edge(svc.name, dest)
    return g, where


def _cycle_findings(cfg: MeshConfig) -> list[Finding]:
    g, where = _call_graph(cfg)
    out = []
    for scc in sorted(nx.strongly_connected_components(g), key=lambda c: sorted(c)):
        first = min(scc)
        if len(scc) == 1 and not g.has_edge(first, first):
            continue
        if len(scc) == 1:
            path = [first, first]
        else:
            cycle = nx.find_cycle(g.subgraph(scc), source=first)
            path = [cycle[0][0], *(v for _, v in cycle)]
        src, loc = where.get(path[0], ("", ""))
        what = "calls itself" if len(path) == 2 and path[0] == path[1] else "is on a call cycle"
        out.append(
            Finding(
                "error",
                src,
                loc,
                f"{path[0]} {what} ({' -> '.join(path)}): a request that follows it never finishes; "
                "meshsim needs an acyclic call graph",
            )
        )
    return out


def _total_pods(cfg: MeshConfig) -> int:
    total = 0
    for doc in cfg.topologies:
        graph = doc.obj
        for svc in graph.services:
            if svc.versions:
                total += sum(v.replicas if v.replicas is not None else 1 for v in svc.versions.values())
            else:
                n = svc.numReplicas if svc.numReplicas is not None else graph.defaults.numReplicas
                total += n if n is not None else 1
    total += sum(d.obj.spec.replicas for d in cfg.deployments)
    return total


def check_config(cfg: MeshConfig) -> list[Finding]:
    """Run every config-level static check; returns findings (errors first is not guaranteed)."""
    out: list[Finding] = []
    if _re2 is None:
        out.append(
            Finding(
                "warning",
                "meshsim",
                "",
                "the google-re2 binding is not installed: regexes are checked with "
                "Python's re, whose syntax differs from the RE2 that Envoy uses",
            )
        )
    out.extend(_cycle_findings(cfg))
    for doc in cfg.virtual_services:
        out.extend(_regex_findings(doc.source, doc.obj))
    if cfg.scenario is not None:
        for i, ev in enumerate(cfg.scenario.obj.spec.events):
            if ev.apply is not None and ev.apply.get("kind") == "VirtualService":
                vs = VirtualService.model_validate(ev.apply)
                out.extend(_regex_findings(cfg.scenario.source, vs, ("spec", "events", i, "apply")))
    pods = _total_pods(cfg)
    if pods > MAX_TOTAL_PODS:
        src = str(cfg.topologies[0].source) if cfg.topologies else ""
        out.append(
            Finding("error", src, "services", f"{pods} pods in total, more than the {MAX_TOTAL_PODS} meshsim simulates")
        )
    if not any(f.level == "error" for f in out):
        est = estimate_run(cfg)
        if est is not None and est.calls > MAX_SIMULATED_CALLS:
            where = str(cfg.load.source) if cfg.load is not None else "LoadProfile (defaults)"
            out.append(
                Finding(
                    "warning",
                    where,
                    "spec",
                    f"a run would simulate about {est.calls:.3g} calls, over the budget of "
                    f"{MAX_SIMULATED_CALLS:.3g}; `meshsim run` refuses it without --force",
                )
            )
    return out


_LOC_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parse_loc(loc: str) -> tuple[str | int, ...]:
    """``spec.http[0].route`` -> ``("spec", "http", 0, "route")`` (the inverse of ``format_loc``)."""
    return tuple(m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _LOC_PART.finditer(loc))


def _sources(cfg: MeshConfig) -> dict[str, Source]:
    docs = [
        *cfg.topologies,
        *cfg.deployments,
        *cfg.kube_services,
        *cfg.virtual_services,
        *cfg.destination_rules,
        *cfg.slos,
        *cfg.canaries,
        *cfg.gateways,
        *cfg.peer_authentications,
        *cfg.authorization_policies,
        *(d for d in (cfg.load, cfg.settings, cfg.scenario) if d is not None),
    ]
    return {str(d.source): d.source for d in docs if d.source.lines}


def with_lines(cfg: MeshConfig, findings: list[Finding]) -> list[Finding]:
    """``findings`` with the YAML line of each one's field added to its source, where it is known
    (``file (Kind name)`` becomes ``file:LINE (Kind name)``); others unchanged."""
    sources = _sources(cfg)
    out = []
    for f in findings:
        src = sources.get(f.source)
        out.append(f if src is None else Finding(f.level, src.at(_parse_loc(f.loc)), f.loc, f.message))
    return out


@contextlib.contextmanager
def located(cfg: MeshConfig) -> Iterator[None]:
    """Re-raise a :class:`~meshsim.errors.ConfigError` from the block (e.g. the compiler's) with the
    YAML line of its field, where it is known."""
    from meshsim.errors import ConfigError, ConfigErrors

    try:
        yield
    except ConfigError as exc:
        sources = _sources(cfg)
        errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
        if not any(e.source in sources for e in errors):
            raise
        located_errors = []
        for e in errors:
            src = sources.get(e.source)
            if src is not None and not e.message.startswith("after the scenario's changes"):  # a field of another doc
                e = type(e)(src.at(_parse_loc(e.loc)), e.loc, e.message)  # keeps CompileError a CompileError
            located_errors.append(e)
        raise (located_errors[0] if len(located_errors) == 1 else ConfigErrors(located_errors)) from None
