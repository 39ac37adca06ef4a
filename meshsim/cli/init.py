"""``meshsim init FILE... [--out DIR]``: a starter topology and load profile from Kubernetes manifests.

Kubernetes Deployments and Services say which services exist, their versions (the pods' ``version``
label, Istio's convention for subsets) and replicas, but not what each service does: how long it
works on a request, how many requests a pod serves at once, which services it calls. ``init`` writes
a MockServiceGraph with one service per Service and those facts filled in, and marks everything
else as a ``PLACEHOLDER`` to replace (service times are guesses; calls are left for you to add), plus
a LoadProfile. Nothing the user wrote is modified; existing output files are kept unless ``--force``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from meshsim.cli.common import console, err_console, user_errors
from meshsim.errors import ConfigError, format_loc

__all__ = ["init_command", "starter_files"]

# The placeholder service time: a lognormal with median 5 ms and p99 25 ms (p99 = 5 x median, the
# spread the shipped Bookinfo topology also guesses). Nothing in a manifest says what it really is.
PLACEHOLDER_SLEEP = "{dist: lognormal, median: 5ms, p99: 25ms}"


@dataclass
class _Version:
    name: str
    deployment: str
    replicas: int
    labels: dict[str, str]


@dataclass
class _Service:
    name: str
    namespace: str | None
    port: int | None
    port_name: str | None
    source: str
    versions: list[_Version] = field(default_factory=list)


def _flow(d: dict[str, str]) -> str:
    """A YAML flow mapping (JSON strings are valid YAML scalars, so any label value is safe)."""
    return "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in d.items()) + "}"


def _read(paths: list[str]) -> tuple[list[_Service], list[tuple[str, dict[str, Any]]], list[str]]:
    """Services with the Deployments their selectors pick, in file order; the raw VirtualServices; and
    the Deployments no Service selects (a namespace unset means ``default``, as in Kubernetes)."""
    from meshsim.config.kube import Deployment, KubeService
    from meshsim.config.loader import load_documents

    docs, _, _ = load_documents(paths)
    services: list[tuple[str, KubeService, str | None]] = []
    deployments: list[tuple[str, Deployment]] = []
    vss: list[tuple[str, dict[str, Any]]] = []
    for src, d in docs:
        kind, api = d.get("kind"), str(d.get("apiVersion", ""))
        model: type[KubeService] | type[Deployment] | None = None
        if kind == "Service" and api == "v1":
            model = KubeService
        elif kind == "Deployment" and api.startswith("apps/"):
            model = Deployment
        elif kind == "VirtualService" and api.startswith("networking.istio.io/"):
            vss.append((str(src), d))
            continue
        else:
            continue  # ServiceAccounts, ConfigMaps, ...: nothing to take from them
        try:
            obj = model.model_validate(d)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(
                f"{src.file} ({kind}, document {src.index})", format_loc(err["loc"]), err["msg"]
            ) from None
        if isinstance(obj, KubeService):
            spec = d.get("spec") or {}
            if spec.get("type") == "ExternalName" or not obj.spec.selector:
                continue  # no pods of its own: not a service meshsim simulates
            services.append((src.file, obj, spec.get("type")))
        else:
            deployments.append((src.file, obj))
    out: list[_Service] = []
    picked: set[int] = set()
    for file, ks, _type in services:
        ns = ks.metadata.namespace
        port = ks.spec.ports[0] if ks.spec.ports else None
        svc = _Service(ks.metadata.name, ns, port.port if port else None, port.name if port else None, file)
        for i, (_, dep) in enumerate(deployments):
            labels = dep.pod_labels
            if (dep.metadata.namespace or "default") != (ns or "default") or not all(
                labels.get(k) == v for k, v in ks.spec.selector.items()
            ):
                continue
            picked.add(i)
            svc.versions.append(
                _Version(labels.get("version") or dep.metadata.name, dep.metadata.name, dep.spec.replicas, labels)
            )
        out.append(svc)
    orphans = [
        f"{file}: Deployment {dep.metadata.name}" for i, (file, dep) in enumerate(deployments) if i not in picked
    ]
    return out, vss, orphans


def _entry(
    services: list[_Service], vss: list[tuple[str, dict[str, Any]]], entry: str | None, types: dict[str, str | None]
) -> tuple[str, str, str]:
    """(entry service, why it was chosen, the LoadProfile path)."""
    names = [s.name for s in services]
    gateway_routes: list[tuple[str, str]] = []  # (host, path) of gateway-bound VirtualService routes
    for _, vs in vss:
        spec = vs.get("spec") or {}
        if not [g for g in spec.get("gateways") or [] if g != "mesh"]:
            continue
        for http in spec.get("http") or []:
            uris = [m.get("uri") or {} for m in http.get("match") or []]
            path = next((v for u in uris for k, v in u.items() if k in ("exact", "prefix") and isinstance(v, str)), "/")
            for r in http.get("route") or []:
                host = str((r.get("destination") or {}).get("host", "")).split(".")[0]
                if host in names:
                    gateway_routes.append((host, path))
    if entry is not None:
        if entry not in names:
            raise ConfigError("--entry", entry, f"no Service of that name (Services: {', '.join(names)})")
        path = next((p for h, p in gateway_routes if h == entry), "/")
        return entry, "--entry", path
    if gateway_routes:
        host, path = gateway_routes[0]
        return host, "the first route of a VirtualService bound to a Gateway", path
    exposed = [n for n in names if types.get(n) in ("LoadBalancer", "NodePort")]
    if exposed:
        return exposed[0], f"the first Service of type {types[exposed[0]]}", "/"
    return names[0], "a guess: the first Service; pass --entry NAME to choose", "/"


def starter_files(paths: list[str], entry: str | None = None) -> tuple[str, str, str, list[str]]:
    """The text of ``topology.yaml`` and ``load.yaml`` for the manifests under ``paths``, the entry
    service, and the Deployments left out because no Service selects their pods.

    Raises
    ------
    ConfigError
        When a path is missing, a document is not valid YAML or not a valid Service/Deployment,
        there is no Service with a selector, or ``entry`` names no Service.
    """
    from meshsim.config.loader import load_documents

    services, vss, orphans = _read(paths)
    if not services:
        raise ConfigError(
            ", ".join(paths),
            "",
            "no Kubernetes Service with a pod selector found; `meshsim init` makes one "
            "MockServiceGraph service per Service (with the Deployments it selects)",
        )
    docs, _, _ = load_documents(paths)
    types = {
        str((d.get("metadata") or {}).get("name")): (d.get("spec") or {}).get("type")
        for _, d in docs
        if d.get("kind") == "Service"
    }
    entry_name, why, path = _entry(services, vss, entry, types)
    inputs = " ".join(paths)
    return _topology_text(services, inputs, entry_name, why), _load_text(inputs, entry_name, path), entry_name, orphans


def _topology_text(services: list[_Service], inputs: str, entry_name: str, why: str) -> str:
    """``topology.yaml``: a header saying what came from the manifests and what is a PLACEHOLDER, then one
    MockServiceGraph service per Service (``inputs``: the paths as given; ``why``: how the entry was chosen)."""
    lines = [
        f"# Starter topology written by `meshsim init {inputs}`.",
        "#",
        "# Taken from the manifests: one service per Kubernetes Service, its versions (the pods' `version`",
        "# label, else the Deployment's name), replicas and pod labels, and the Service's port.",
        "# Everything marked PLACEHOLDER is a guess to replace with what your services really do:",
        f"# - every `sleep` is an invented service time ({PLACEHOLDER_SLEEP}); measure yours",
        "#   (e.g. the p50 and p99 of istio_request_duration_milliseconds at reporter=destination);",
        "# - no service calls another yet: add `- call: {service: NAME}` steps to each script, in the",
        "#   order your code makes them (`meshsim validate` reports services the entry cannot reach);",
        "# - `concurrency` (requests a pod serves at once) is unset, i.e. unbounded: pods never queue.",
        f"# - the entry service ({entry_name}) was chosen by {why}.",
        "# These versions' replicas win over the Deployments' when you pass the manifests to meshsim too.",
        "apiVersion: meshsim.io/v1alpha1",
        "kind: MockServiceGraph",
        "services:",
    ]
    for s in services:
        lines.append(f"- name: {s.name}")
        if s.name == entry_name:
            lines.append("  isEntrypoint: true")
        if s.namespace:
            lines.append(f"  namespace: {s.namespace}")
        if s.port is not None:
            lines.append(f"  port: {s.port}" + (f"  # Service port {s.port_name!r}" if s.port_name else ""))
        if s.port_name and s.port_name.startswith("grpc"):
            lines.append("  type: grpc")
        lines.append("  # concurrency: 16  # PLACEHOLDER: requests one pod serves at once (unset = unbounded)")
        lines.append("  script:")
        lines.append(f"  - sleep: {PLACEHOLDER_SLEEP}  # PLACEHOLDER: service time")
        lines.append("  # - call: {service: OTHER}  # PLACEHOLDER: the calls this service makes")
        if s.versions:
            lines.append("  versions:")
            for v in s.versions:
                lines.append(f"    {v.name}:  # Deployment {v.deployment} in {s.source}")
                lines.append(f"      replicas: {v.replicas}")
                lines.append(f"      labels: {_flow(v.labels)}")
        else:
            lines.append(f"  numReplicas: 1  # PLACEHOLDER: no Deployment in {s.source} selects this Service's pods")
    return "\n".join(lines) + "\n"


def _load_text(inputs: str, entry_name: str, path: str) -> str:
    """``load.yaml``: a LoadProfile at ``entry_name`` requesting ``path``, its rate a PLACEHOLDER."""
    return (
        "\n".join(
            [
                f"# Starter load written by `meshsim init {inputs}`: PLACEHOLDER values to replace with your traffic.",
                "apiVersion: meshsim.io/v1alpha1",
                "kind: LoadProfile",
                "metadata:",
                "  name: starter",
                "spec:",
                f"  entry: {entry_name}",
                f"  path: {json.dumps(path)}  # PLACEHOLDER: the path clients request (VirtualService uri matches see it)",
                "  # gateway: NAME  # send the load through an Istio Gateway (pass its file to meshsim too)",
                "  arrival: poisson",
                "  rate: 10  # PLACEHOLDER: requests/s entering the mesh",
                "  duration: 30s",
                "  warmup: 5s",
            ]
        )
        + "\n"
    )


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def init_command(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Kubernetes manifests (files or directories): Deployments and Services, "
            "e.g. Istio's samples/bookinfo/platform/kube/bookinfo.yaml.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write topology.yaml and load.yaml into.")
    ] = Path("mesh"),
    entry: Annotated[
        str | None,
        typer.Option(
            "--entry",
            help="The Service load enters at (default: the host of a Gateway-bound "
            "VirtualService among FILES, else a LoadBalancer/NodePort Service, else the first Service).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace topology.yaml and load.yaml if they exist.")] = False,
) -> None:
    """Write a starter MockServiceGraph topology and LoadProfile from Deployments and Services.

    One service per Service, with its versions, replicas, pod labels and port from the manifests;
    service times, calls and concurrency are PLACEHOLDERs marked in comments. Exit 2 on bad input or
    when an output file exists (without --force).
    """
    with user_errors():
        topology, load, entry_name, orphans = starter_files(list(files), entry)
        targets = {out / "topology.yaml": topology, out / "load.yaml": load}
        if not force:
            for p in targets:
                if p.exists():
                    raise ConfigError(
                        str(p), "", "exists; `meshsim init` does not replace files (use --force, or another --out)"
                    )
        try:
            out.mkdir(parents=True, exist_ok=True)
            for p, text in targets.items():
                _write_atomic(p, text)
        except OSError as exc:
            raise ConfigError(str(out), "", f"cannot write ({exc.strerror})") from None
    for o in orphans:
        err_console.print(
            f"note: {o}: no Service selects its pods; left out of the topology",
            style="yellow",
            highlight=False,
            markup=False,
        )
    n = topology.count("\n- name: ")
    console.print(
        f"wrote {out / 'topology.yaml'} ({n} service(s), entry {entry_name}) and {out / 'load.yaml'}", highlight=False
    )
    console.print(
        f"next: replace the PLACEHOLDERs (service times, calls), then `meshsim validate {out}` and `meshsim run {out}`",
        highlight=False,
    )
