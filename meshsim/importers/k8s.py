"""A topology skeleton from Kubernetes Deployments and Services (``kubectl get deploy,svc -o yaml``).

One service per Kubernetes Service; its versions are the Deployments its selector matches (the
``version`` pod label, else the Deployment's name, as meshsim's compiler reads them), with their
replicas. The call graph and service times come from traces when given (:mod:`meshsim.importers.graph`);
otherwise every service gets a placeholder ``sleep: 1ms`` and no calls, each listed in the report as
a placeholder to replace. The Deployments and Services themselves are not rewritten: pass them to
``meshsim run`` next to the skeleton (replicas and labels are read from them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshsim.config.loader import load_documents
from meshsim.errors import ConfigError
from meshsim.importers.emit import Emitted, build_documents

__all__ = ["skeleton"]


def skeleton(paths: list[str], traces: list[Path]) -> Emitted:
    """The :class:`Emitted` documents for the Deployments and Services under ``paths``.

    Raises
    ------
    ConfigError
        If the files hold no Service, or traces are given but hold nothing to import.
    """
    docs, files, _ = load_documents(paths)
    services: dict[str, dict[str, str]] = {}
    deployments: list[tuple[str, dict[str, str], int]] = []
    for _src, d in docs:
        kind, api = d.get("kind"), d.get("apiVersion")
        meta = d.get("metadata") or {}
        spec = d.get("spec") or {}
        if kind == "Service" and api == "v1":
            services[str(meta.get("name"))] = dict(spec.get("selector") or {})
        elif kind == "Deployment" and api == "apps/v1":
            labels = dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
            deployments.append((str(meta.get("name")), labels, int(spec.get("replicas", 1))))
    if not services:
        raise ConfigError(
            ", ".join(files) or ", ".join(paths),
            "",
            "no Kubernetes Service (v1) found; need Services (and Deployments)",
        )
    out = Emitted()
    if traces:
        from meshsim.importers.graph import build_graph
        from meshsim.importers.traces import TraceFile, read_traces

        def stream():  # type: ignore[no-untyped-def]
            for f in traces:
                yield from read_traces(f, TraceFile(str(f)))

        g = build_graph(stream())
        if not g.versions:
            raise ConfigError(", ".join(map(str, traces)), "", "nothing to import: no SERVER span with a service name")
        out = build_documents(g)
        known = {s["name"] for s in out.topology["services"]}
        for sdef in out.topology["services"]:  # replicas come from the Deployments
            sdef.pop("numReplicas", None)
            for v in (sdef.get("versions") or {}).values():
                v.pop("replicas", None)
        for name in sorted(set(services) - known):
            out.topology["services"].append({"name": name, "script": [{"sleep": "1ms"}]})
            out.missing.append(f"{name}: a Service with no spans in the traces; placeholder sleep 1ms")
        return out
    topo: list[dict[str, Any]] = []
    for name, selector in sorted(services.items()):
        vers = [
            (dn, lab, r) for dn, lab, r in deployments if selector and all(lab.get(k) == v for k, v in selector.items())
        ]
        names = ", ".join(f"{lab.get('version') or dn} ({r} replicas)" for dn, lab, r in vers) or "no Deployment"
        out.inferred.append(f"{name}: Service selecting {names}")
        topo.append({"name": name, "script": [{"sleep": "1ms"}]})
        out.missing.append(
            f"{name}: PLACEHOLDER service time (sleep 1ms) and no calls; give --traces or edit topology.yaml"
        )
    topo[0]["isEntrypoint"] = True
    out.missing.append(
        f"entry: PLACEHOLDER {topo[0]['name']} (first Service by name); set isEntrypoint and the LoadProfile's entry"
    )
    out.topology = {"apiVersion": "meshsim.io/v1alpha1", "kind": "MockServiceGraph", "services": topo}
    out.load = {
        "apiVersion": "meshsim.io/v1alpha1",
        "kind": "LoadProfile",
        "metadata": {"name": "skeleton"},
        "spec": {"entry": topo[0]["name"], "rate": 10, "duration": "60s", "warmup": "5s"},
    }
    out.missing.append("load: PLACEHOLDER 10 requests/s")
    return out
