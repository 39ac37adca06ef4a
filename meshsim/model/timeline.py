"""Compile a ``Scenario`` and ``CanaryPolicy`` into a resolved :class:`Timeline`.

Every configuration the run can reach is itself compiled by :func:`meshsim.model.compile.compile_model`
from the user's documents with the change applied ("one translation"): a :class:`ModelFactory` holds the
raw documents and produces the model for *stage k* (the first k config/scale events applied) and an
optional canary weight, cached. The simulator only swaps precompiled models at the times the control
plane model says each proxy receives them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from meshsim.config.loader import MeshConfig, Source, validate_docs
from meshsim.errors import ConfigError
from meshsim.model.compile import compile_model
from meshsim.model.ir import Dist, MeshModel
from meshsim.model.rules.dist import to_dist

__all__ = ["ControlPlaneIR", "TimelineEvent", "CanaryIR", "ModelFactory", "Timeline", "compile_timeline"]


@dataclass(frozen=True)
class ControlPlaneIR:
    """istiod push-pipeline parameters in seconds (see :class:`meshsim.config.scenario.ControlPlaneSpec`)."""

    debounce_after: float = 0.1
    debounce_max: float = 10.0
    push_throttle: int = 100
    push_init: float = 0.02
    propagation: Dist = field(
        default_factory=lambda: Dist("lognormal", (-5.298317366548036, 0.9897926014658166), 0.0081, 1.66)
    )
    endpoint_delay: float = 0.5


@dataclass(frozen=True)
class TimelineEvent:
    """A resolved event. ``stage`` is the factory stage in force after it (apply/scale events)."""

    at: float
    action: str
    description: str
    stage: int = 0
    pod: str | None = None
    workloads: tuple[str, ...] = ()
    factor: float = 1.0
    rate: float | None = None
    status: int | None = None
    duration: float | None = None
    ramp: float | None = None


@dataclass(frozen=True)
class CanaryIR:
    """A Flagger-style rollout of subset ``canary`` of ``service`` against ``primary``.

    ``weights`` are the canary weights stepped through (last = maxWeight); ``metrics`` are
    ``(name, min, max, window_s)``; ``*_workloads`` are the workload keys behind each subset.
    """

    name: str
    service: str
    host: str
    primary: str
    canary: str
    primary_workloads: tuple[str, ...]
    canary_workloads: tuple[str, ...]
    start: float
    interval: float
    threshold: int
    weights: tuple[int, ...]
    metrics: tuple[tuple[str, float | None, float | None, float], ...]


def _same_object(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ma, mb = a.get("metadata") or {}, b.get("metadata") or {}
    return (
        a.get("kind") == b.get("kind")
        and ma.get("name") == mb.get("name")
        and (ma.get("namespace") or "default") == (mb.get("namespace") or "default")
    )


class ModelFactory:
    """Models for every (stage, canary weight) the run can reach, compiled on demand and cached.

    :func:`compile_timeline` compiles every stage and canary weight up front, and the cache travels with the
    factory to worker processes (pickled: ~70 KB and ~3 ms for Bookinfo's canary, against ~75 ms to recompile its
    8 models in each worker), so replications only compile what an autoscaler decides during the run.

    ``stages[k]`` is the list of raw documents after the first k config changes. A canary weight
    ``w`` (0..100) rewrites the VirtualService of the canary's service to
    ``[primary: 100-w, canary: w]``, keeping the retries, timeout and fault of its catch-all route.
    """

    def __init__(self, stages: list[list[tuple[Source, dict[str, Any]]]], canary: CanaryIR | None) -> None:
        self.stages = stages
        self.canary = canary
        self._cache: dict[tuple[int, int | None, tuple[tuple[str, str, int], ...]], MeshModel] = {}

    def model(
        self, stage: int, weight: int | None = None, replicas: tuple[tuple[str, str, int], ...] = ()
    ) -> MeshModel:
        """The model of ``stage`` with canary ``weight`` and ``replicas`` = ``(service, version, n)`` set by an
        autoscaler (applied as a Deployment's ``spec.replicas`` edit, like a Scenario ``scale`` event)."""
        key = (stage, weight, replicas)
        m = self._cache.get(key)
        if m is None:
            docs = self.stages[stage]
            if weight is not None and self.canary is not None:
                docs = _with_canary_weight(docs, self.canary, weight)
            for service, version, n in replicas:
                docs = _scale(docs, service, version, n, "HorizontalPodAutoscaler")
            cfg = validate_docs(docs)
            m = compile_model(cfg)
            self._cache[key] = m
        return m


def _with_canary_weight(
    docs: list[tuple[Source, dict[str, Any]]], c: CanaryIR, weight: int
) -> list[tuple[Source, dict[str, Any]]]:
    base: dict[str, Any] = {}
    out: list[tuple[Source, dict[str, Any]]] = []
    for src, d in docs:
        hosts = ((d.get("spec") or {}).get("hosts") or []) if d.get("kind") == "VirtualService" else []
        if any(str(h).split(".")[0] == c.service for h in hosts):
            for http in (d.get("spec") or {}).get("http") or []:
                if not http.get("match"):
                    base = {k: v for k, v in http.items() if k in ("retries", "timeout", "fault")}
            continue
        out.append((src, d))
    route: dict[str, Any] = {
        "route": [
            {"destination": {"host": c.service, "subset": c.primary}, "weight": 100 - weight},
            {"destination": {"host": c.service, "subset": c.canary}, "weight": weight},
        ]
    }
    route.update(copy.deepcopy(base))
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": f"{c.service}-canary"},
        "spec": {"hosts": [c.service], "http": [route]},
    }
    out.append((Source(f"CanaryPolicy {c.name}", 1), vs))
    return out


def _scale(
    docs: list[tuple[Source, dict[str, Any]]], service: str, version: str | None, replicas: int, where: str
) -> list[tuple[Source, dict[str, Any]]]:
    out = copy.deepcopy(docs)
    for _, d in out:
        if d.get("kind") == "Deployment":
            labels = (((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
            if labels.get("app") == service and (version is None or labels.get("version") == version):
                d.setdefault("spec", {})["replicas"] = replicas
                return out
    for _, d in out:
        if d.get("kind") == "MockServiceGraph" or (not d.get("kind") and "services" in d):
            for svc in d.get("services") or []:
                if svc.get("name") != service:
                    continue
                if svc.get("versions"):
                    v = version or next(iter(svc["versions"]))
                    if v not in svc["versions"]:
                        raise ConfigError(where, "scale.version", f"{service} has no version {v!r}")
                    svc["versions"][v] = {**(svc["versions"][v] or {}), "replicas": replicas}
                else:
                    svc["numReplicas"] = replicas
                return out
    raise ConfigError(where, "scale.service", f"no service {service!r} to scale")


@dataclass
class Timeline:
    """Everything that changes during a run, resolved."""

    control_plane: ControlPlaneIR
    series_interval: float
    events: tuple[TimelineEvent, ...]
    canary: CanaryIR | None
    factory: ModelFactory = field(repr=False)


def _workloads(model: MeshModel, service: str, version: str | None, where: str, loc: str) -> tuple[str, ...]:
    try:
        svc = model.service(service)
    except KeyError:
        raise ConfigError(where, f"{loc}.service", f"unknown service {service!r}") from None
    keys = tuple(w.key for w in svc.workloads if version is None or w.version == version)
    if not keys:
        raise ConfigError(where, f"{loc}.version", f"{service} has no version {version!r}")
    return keys


def compile_timeline(cfg: MeshConfig, model: MeshModel) -> Timeline | None:
    """Resolve the config's Scenario, CanaryPolicy and HorizontalPodAutoscalers (None when it has none).

    Raises
    ------
    ConfigError
        On an event naming an unknown service, version or pod, an ``apply`` document that does not
        validate, or a CanaryPolicy whose subsets do not exist.
    """
    if cfg.scenario is None and not cfg.canaries and not model.autoscalers:
        return None
    spec = cfg.scenario.obj.spec if cfg.scenario is not None else None
    where = str(cfg.scenario.source) if cfg.scenario is not None else ""
    cp = ControlPlaneIR()
    interval = 1.0
    if spec is not None:
        c = spec.controlPlane
        cp = ControlPlaneIR(
            c.debounceAfter, c.debounceMax, c.pushThrottle, c.pushInit, to_dist(c.propagation), c.endpointDelay
        )
        interval = spec.timeSeriesInterval
    stages = [list(cfg.raw)]
    events = _events(spec.events if spec else [], model, where, stages)
    canary = _canary(cfg, model)
    factory = ModelFactory(stages, canary)
    # compile every reachable configuration now, so bad input fails before the run starts
    for k in range(len(stages)):
        try:
            factory.model(k)
            if canary is not None:
                for w in (0, *canary.weights, 100):
                    factory.model(k, w)
        except ConfigError as exc:
            raise ConfigError(where or exc.source, exc.loc, f"after the scenario's changes: {exc.message}") from None
    return Timeline(cp, interval, tuple(events), canary, factory)


def _config_event(
    i: int, ev: Any, model: MeshModel, where: str, loc: str, stages: list[list[tuple[Source, dict[str, Any]]]]
) -> TimelineEvent:
    """An ``apply`` or ``scale`` event; appends its configuration stage to ``stages``."""
    a = ev.action
    if a == "apply":
        doc = ev.apply or {}
        if doc.get("kind") not in ("VirtualService", "DestinationRule"):
            raise ConfigError(where, f"{loc}.apply.kind", "apply takes a VirtualService or DestinationRule document")
        docs = [(s, d) for s, d in stages[-1] if not _same_object(d, doc)] + [(Source(where or "Scenario", i + 1), doc)]
        stages.append(docs)
        name = (doc.get("metadata") or {}).get("name")
        return TimelineEvent(ev.at, "apply", f"apply {doc['kind']} {name}", stage=len(stages) - 1)
    else:
        assert ev.scale is not None
        _workloads(model, ev.scale.service, ev.scale.version, where, f"{loc}.scale")
        stages.append(_scale(stages[-1], ev.scale.service, ev.scale.version, ev.scale.replicas, where))
        return TimelineEvent(
            ev.at,
            "scale",
            f"scale {ev.scale.service} {ev.scale.version or ''} to {ev.scale.replicas}".replace("  ", " "),
            stage=len(stages) - 1,
        )


def _pod_or_load_event(ev: Any, model: MeshModel, where: str, loc: str) -> TimelineEvent:
    """A ``kill``, ``slow``, ``errors`` or ``load`` event."""
    a = ev.action
    if a == "kill":
        assert ev.kill is not None
        if ev.kill.pod not in {e.id for e in model.endpoints}:
            raise ConfigError(
                where, f"{loc}.kill.pod", f"no pod {ev.kill.pod!r} (pods are named <service>-<version>-<index>)"
            )
        return TimelineEvent(ev.at, "kill", f"kill {ev.kill.pod}", pod=ev.kill.pod)
    elif a == "slow":
        assert ev.slow is not None
        wl = _workloads(model, ev.slow.service, ev.slow.version, where, f"{loc}.slow")
        return TimelineEvent(
            ev.at,
            "slow",
            f"slow {', '.join(wl)} x{ev.slow.factor:g}",
            workloads=wl,
            factor=ev.slow.factor,
            duration=ev.slow.duration,
        )

    elif a == "errors":
        assert ev.errors is not None
        wl = _workloads(model, ev.errors.service, ev.errors.version, where, f"{loc}.errors")
        return TimelineEvent(
            ev.at,
            "errors",
            f"errors {', '.join(wl)} at {100 * ev.errors.rate:g}%",
            workloads=wl,
            rate=ev.errors.rate,
            status=ev.errors.status,
            duration=ev.errors.duration,
        )

    else:
        assert ev.load is not None
        return TimelineEvent(
            ev.at,
            "load",
            f"load to {ev.load.rate:g} req/s",
            rate=ev.load.rate,
            duration=ev.load.duration,
            ramp=ev.load.ramp,
        )


def _events(
    raw_events: list[Any], model: MeshModel, where: str, stages: list[list[tuple[Source, dict[str, Any]]]]
) -> list[TimelineEvent]:
    """The Scenario's events in time order; ``apply`` and ``scale`` append a configuration stage to
    ``stages`` (the raw documents after the change) and refer to it by index.

    Raises
    ------
    ConfigError
        For an ``apply`` of another kind than VirtualService/DestinationRule, or an event naming an
        unknown service, version or pod.
    """
    events: list[TimelineEvent] = []
    for i, ev in enumerate(sorted(raw_events, key=lambda e: e.at)):
        loc = f"spec.events[{i}]"
        if ev.action in ("apply", "scale"):
            events.append(_config_event(i, ev, model, where, loc, stages))
        else:
            events.append(_pod_or_load_event(ev, model, where, loc))
    return events


def _canary(cfg: MeshConfig, model: MeshModel) -> CanaryIR | None:
    """The config's CanaryPolicy resolved against ``model`` (None without one).

    Raises
    ------
    ConfigError
        For more than one CanaryPolicy, an unknown service, or a primary/canary subset no
        DestinationRule defines.
    """
    if len(cfg.canaries) > 1:
        raise ConfigError(str(cfg.canaries[1].source), "", "meshsim runs one CanaryPolicy at a time")
    if cfg.canaries:
        d = cfg.canaries[0]
        cs = d.obj.spec
        csrc = str(d.source)
        try:
            svc = model.service(cs.service)
        except KeyError:
            raise ConfigError(csrc, "spec.service", f"unknown service {cs.service!r}") from None
        subsets = {c.subset: c for c in model.clusters if c.service == svc.name and c.subset}
        for fld in ("primary", "canary"):
            if getattr(cs, fld) not in subsets:
                raise ConfigError(csrc, f"spec.{fld}", f"no DestinationRule subset {getattr(cs, fld)!r} of {svc.name}")
        eps = {e.id: e for e in model.endpoints}

        def wl_of(sub: str) -> tuple[str, ...]:
            return tuple(sorted({f"{eps[e].service}.{eps[e].version}" for e in subsets[sub].endpoints}))

        an = cs.analysis
        return CanaryIR(
            name=d.obj.metadata.name if d.obj.metadata else cs.service,
            service=svc.name,
            host=svc.host,
            primary=cs.primary,
            canary=cs.canary,
            primary_workloads=wl_of(cs.primary),
            canary_workloads=wl_of(cs.canary),
            start=cs.startAt,
            interval=an.interval,
            threshold=an.threshold,
            weights=tuple(an.weights()),
            metrics=tuple(
                (m.name, m.thresholdRange.min, m.thresholdRange.max, m.interval or an.interval) for m in an.metrics
            ),
        )
    return None
