"""Turn an inferred :class:`~meshsim.importers.graph.Graph` into YAML that ``meshsim run`` runs.

Writes into ``--out DIR`` (each file atomically: a temporary file, then a rename):

- ``topology.yaml``: a MockServiceGraph; per service version one ``sleep`` (the fitted self time)
  then its calls (``probability`` in integer percent as isotope has it, concurrent groups,
  app-level ``retries``), ``errorRate``/``errorStatus`` and replicas (``numReplicas`` or per version);
- ``load.yaml``: a LoadProfile at the observed entry rate;
- ``routing.yaml`` (only when a service answered from more than one version): a DestinationRule with
  one subset per version (``version`` label, as Istio's samples) and a VirtualService with the
  observed split as weights, so the split is reproduced without your own routing; leave it out and
  pass your exported VirtualServices and DestinationRules instead;
- ``import-report.txt``: what was inferred (counts, fits with their KS scores) and what was not, one
  line each (not ``.json``: ``meshsim run DIR`` reads every ``.json`` file of a directory as config).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from meshsim.importers.fit import Fit, fit_self_times
from meshsim.importers.graph import Graph, VersionStats, self_time_array

__all__ = ["Emitted", "build_documents", "write_outputs"]


class Emitted:
    """The documents and the report lines (``inferred``, ``missing``: one line each)."""

    def __init__(self) -> None:
        self.topology: dict[str, Any] = {}
        self.load: dict[str, Any] | None = None
        self.routing: list[dict[str, Any]] = []
        self.fits: dict[str, Fit] = {}
        self.inferred: list[str] = []
        self.missing: list[str] = []


def _script(key: str, vs: VersionStats, fit: Fit | None, out: Emitted) -> list[Any]:
    script: list[Any] = []
    if fit is not None:
        script.append({"sleep": fit.sleep})
    n = max(vs.scripted, 1)
    keys = [k for k, c in vs.calls.items() if c.present / n >= 0.005]
    dropped = [k for k in vs.calls if k not in keys]
    if dropped:
        out.missing.append(f"{key}: calls seen in under 0.5% of requests left out: {', '.join(d for d, _ in dropped)}")
    parent = {k: k for k in keys}

    def find(k: tuple[str, int]) -> tuple[str, int]:
        while parent[k] != k:
            k = parent[k]
        return k

    for (a, b), both in vs.both.items():
        if a in parent and b in parent and vs.overlap[(a, b)] * 2 > both:
            parent[find(a)] = find(b)
    groups: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for k in keys:
        groups.setdefault(find(k), []).append(k)

    def mean_start(k: tuple[str, int]) -> float:
        return vs.calls[k].rel_start / vs.calls[k].present

    def cmp1(a: tuple[str, int], b: tuple[str, int]) -> int:
        return cmp([a], [b])

    def cmp(ga: list[tuple[str, int]], gb: list[tuple[str, int]]) -> int:
        first = sum(vs.before[(a, b)] for a in ga for b in gb)
        second = sum(vs.before[(b, a)] for a in ga for b in gb)
        if first != second:
            return -1 if first > second else 1
        ma, mb = min(mean_start(k) for k in ga), min(mean_start(k) for k in gb)
        return -1 if ma < mb else (1 if ma > mb else 0)

    ordered = sorted(groups.values(), key=functools.cmp_to_key(cmp))
    for grp in ordered:
        cmds = []
        for k in sorted(grp, key=functools.cmp_to_key(cmp1)):
            c = vs.calls[k]
            p = c.present / n
            call: dict[str, Any] = {"service": k[0]}
            if p < 0.995:
                call["probability"] = max(1, round(p * 100))
            if c.max_retries:
                call["retries"] = {"attempts": c.max_retries}
            if c.failed and c.ignored * 2 > c.failed:
                call["onError"] = "ignore"
            cmds.append({"call": call})
        script.append(cmds if len(cmds) > 1 else cmds[0])
    return script


def build_documents(g: Graph, name: str = "imported", sampling: float = 1.0, max_ks: float = 0.05) -> Emitted:
    """Build the documents of :mod:`meshsim.importers.emit` from ``g``.

    ``sampling`` is the fraction of requests that were traced (Istio's default is 1 %): the arrival
    rate is divided by it.
    """
    out = Emitted()
    entry = g.entry.most_common(1)[0][0] if g.entry else None
    services = [_service(g, svc, entry, max_ks, out) for svc in g.services()]
    for (src, dst), e in sorted(g.edges.items()):
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(e.statuses.items()))
        reached = ", ".join(f"{v}: {n}" for v, n in sorted(e.versions.items()))
        out.inferred.append(
            f"edge {src} -> {dst}: {e.calls} sidecar requests, {e.errors} failed; "
            f"versions {{{reached}}}; status codes {{{codes}}}"
        )
    out.topology = {"apiVersion": "meshsim.io/v1alpha1", "kind": "MockServiceGraph", "services": services}
    out.missing.append(
        "concurrency (workers per pod) is not visible in traces: left unbounded; set it to model queueing"
    )
    out.missing.append("timeouts and request/response sizes are not visible in traces: meshsim's defaults apply")
    if entry is not None:
        out.load = _load_profile(g, entry, name, sampling, out)
    return out


def _service(g: Graph, svc: str, entry: str | None, max_ks: float, out: Emitted) -> dict[str, Any]:
    """One MockServiceGraph service: its versions (or, for a lone ``latest``/``v1``, the version's
    fields on the service itself); a VirtualService and DestinationRule into ``out.routing`` when
    more than one version answered."""
    vers = sorted(v for s, v in g.versions if s == svc)
    sdef: dict[str, Any] = {"name": svc}
    if svc == entry:
        sdef["isEntrypoint"] = True
    per_version = {v: _version(f"{svc}.{v}", g.versions[(svc, v)], max_ks, out) for v in vers}
    if len(per_version) == 1 and vers[0] in ("latest", "v1"):
        only = per_version[vers[0]]
        sdef["numReplicas"] = only.pop("replicas")
        sdef.update(only)
    else:
        sdef["versions"] = per_version
    splits = Counter_total(g, svc)
    if len(splits) > 1:
        out.routing.extend(_routing(svc, splits))
    return sdef


def _version(key: str, vs: VersionStats, max_ks: float, out: Emitted) -> dict[str, Any]:
    """One service version (``key`` = ``service.version``): replicas, the script (the fitted self time,
    then the calls) and its own error rate; what was inferred, and what not, into ``out``."""
    samples = self_time_array(vs)
    fit = fit_self_times(samples, max_ks=max_ks) if len(samples) else None
    if fit is not None:
        out.fits[key] = fit
        scores = ", ".join(f"{k} KS {d:.3f}" for k, d in sorted(fit.scores.items()))
        out.inferred.append(
            f"{key}: self time from {fit.n} requests -> {fit.chosen} ({scores})" + (f"; {fit.note}" if fit.note else "")
        )
    else:
        out.missing.append(f"{key}: no request ran its script (all {vs.spans} failed); no self time")
    vdef: dict[str, Any] = {"replicas": len(vs.pods), "script": _script(key, vs, fit, out)}
    if vs.own_errors:
        vdef["errorRate"] = f"{100 * vs.own_errors / vs.spans:.4g}%"
        status, _ = vs.own_error_status.most_common(1)[0]
        if status != 500 and 100 <= status <= 599:
            vdef["errorStatus"] = status
        out.inferred.append(
            f"{key}: {vs.own_errors} of {vs.spans} requests failed on their own "
            f"(errorRate {vdef['errorRate']}, status {status})"
        )
    calls = ", ".join(
        f"{d}{'' if k == 0 else f'#{k + 1}'} {c.present / max(vs.scripted, 1):.0%}"
        + (f" (retried up to {c.max_retries}x)" if c.max_retries else "")
        for (d, k), c in sorted(vs.calls.items())
    )
    out.inferred.append(f"{key}: {vs.spans} requests on {len(vs.pods)} pod(s); calls: {calls or 'none'}")
    return vdef


def _load_profile(g: Graph, entry: str, name: str, sampling: float, out: Emitted) -> dict[str, Any]:
    """The LoadProfile: Poisson arrivals at ``entry`` at the observed rate (entry requests over the time
    between the first and the last, divided by ``sampling``), the most common entry path, 60 s + 5 s."""
    window = (g.last_root - g.first_root) / 1e6
    n = g.entry[entry]
    spec: dict[str, Any] = {"entry": entry, "arrival": "poisson"}
    if window > 0 and n > 1:
        spec["rate"] = round((n - 1) / window / sampling, 3)
        out.inferred.append(
            f"load: {n} entry requests at {entry} over {window:.1f}s, sampling {sampling:g} "
            f"-> {spec['rate']} requests/s (Poisson)"
        )
    else:
        out.missing.append("load: fewer than two entry requests; arrival rate not inferred (meshsim's default applies)")
    if g.entry_paths:
        spec["path"] = g.entry_paths.most_common(1)[0][0]
    spec["duration"] = "60s"
    spec["warmup"] = "5s"
    return {"apiVersion": "meshsim.io/v1alpha1", "kind": "LoadProfile", "metadata": {"name": name}, "spec": spec}


def Counter_total(g: Graph, svc: str) -> dict[str, int]:  # noqa: N802 - reads as a noun
    """Calls answered by each version of ``svc``, over all callers."""
    out: dict[str, int] = {}
    for (_, dest), e in g.edges.items():
        if dest == svc:
            for v, n in e.versions.items():
                out[v] = out.get(v, 0) + n
    return out


def _weights(splits: dict[str, int]) -> dict[str, int]:
    """Integer percentages summing to 100 (largest remainder)."""
    total = sum(splits.values())
    raw = {v: 100 * n / total for v, n in splits.items()}
    w = {v: int(x) for v, x in raw.items()}
    for v in sorted(raw, key=lambda v: raw[v] - w[v], reverse=True)[: 100 - sum(w.values())]:
        w[v] += 1
    return w


def _routing(svc: str, splits: dict[str, int]) -> list[dict[str, Any]]:
    w = _weights(splits)
    dr = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": svc},
        "spec": {"host": svc, "subsets": [{"name": v, "labels": {"version": v}} for v in sorted(w)]},
    }
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": svc},
        "spec": {
            "hosts": [svc],
            "http": [
                {"route": [{"destination": {"host": svc, "subset": v}, "weight": w[v]} for v in sorted(w) if w[v] > 0]}
            ],
        },
    }
    return [dr, vs]


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_outputs(em: Emitted, out: Path, header: str, report: dict[str, Any]) -> list[Path]:
    """Write the documents of ``em`` into ``out`` (created); returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    topo = out / "topology.yaml"
    fits = "".join(
        f"#   {k}: {f.chosen}, KS " + ", ".join(f"{n} {d:.3f}" for n, d in sorted(f.scores.items())) + "\n"
        for k, f in sorted(em.fits.items())
    )
    if fits:
        fits = "# Self-time fits (Kolmogorov-Smirnov distance, 0 = perfect):\n" + fits
    _atomic(topo, header + fits + yaml.safe_dump(em.topology, sort_keys=False, default_flow_style=None, width=120))
    written.append(topo)
    if em.load is not None:
        p = out / "load.yaml"
        _atomic(p, header + yaml.safe_dump(em.load, sort_keys=False))
        written.append(p)
    stale = out / "routing.yaml"
    if not em.routing and stale.is_file() and stale.read_text().startswith("# Written by meshsim import"):
        stale.unlink()  # an earlier import's observed routing would otherwise be loaded with this one
    if em.routing:
        p = out / "routing.yaml"
        _atomic(
            p,
            header
            + "# The split observed in the traces. Leave this file out to use your own routing.\n"
            + yaml.safe_dump_all(em.routing, sort_keys=False),
        )
        written.append(p)
    rp = out / "import-report.txt"
    lines = [f"{k}: {v}" for k, v in report.items()]
    lines += ["inferred:"] + [f"  {x}" for x in em.inferred] + ["not inferred:"] + [f"  {x}" for x in em.missing]
    _atomic(rp, "\n".join(lines) + "\n")
    written.append(rp)
    return written
