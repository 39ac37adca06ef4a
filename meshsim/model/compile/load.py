"""Load: the LoadProfile -> the IR load spec (entry service, arrival process, header mix)."""

from __future__ import annotations

from collections.abc import Iterable

from meshsim.config.loader import MeshConfig
from meshsim.config.topology import CallCmd, CallSpec, Defaults, ServiceDef
from meshsim.model.compile.context import Ctx, SvcInfo, resolve_host, short
from meshsim.model.ir import LoadSpec
from meshsim.model.rules.dist import to_dist


def load_spec(ctx: Ctx, cfg: MeshConfig, infos: dict[str, SvcInfo]) -> LoadSpec | None:
    lp = cfg.load_profile
    spec = lp.spec
    src = str(cfg.load.source) if cfg.load else "LoadProfile (default)"
    entry = spec.entry
    if entry is None:
        marked = [n for n, i in infos.items() if i.sdef.isEntrypoint]
        if len(marked) == 1:
            entry = marked[0]
        else:
            called = {c.service for i in infos.values() for c in iter_calls(i.sdef, i.defaults)}
            roots = [n for n in infos if n not in called]
            if len(roots) == 1:
                entry = roots[0]
            else:
                ctx.error(
                    src, "spec.entry", "cannot tell the entry service; set LoadProfile spec.entry or isEntrypoint"
                )
                return None
    # the entry names a topology service: a short name means that service's own namespace
    named = infos.get(short(entry))
    target = resolve_host(entry, infos, named.namespace if named else "default")
    if target is None:
        ctx.error(src, "spec.entry", f"entry {entry!r} is not a service of the topology")
        return None
    rate = spec.rate
    if spec.arrival != "closed" and rate is None:
        rate = 100.0
        ctx.info(src, "spec.rate", "no rate given; using 100 requests/s")
    total = sum(h.weight for h in spec.headers)
    mix = tuple((h.weight / total, tuple(sorted((k.lower(), v) for k, v in h.headers.items()))) for h in spec.headers)
    return LoadSpec(
        entry=target.sdef.name,
        path=spec.path,
        method=spec.method.upper(),
        arrival=spec.arrival,
        rate=rate,
        users=spec.users,
        think_time=to_dist(spec.thinkTime) if spec.thinkTime is not None else None,
        duration=spec.duration,
        warmup=spec.warmup,
        drain=spec.drain,
        header_mix=mix or ((1.0, ()),),
    )


def iter_calls(sdef: ServiceDef, dflt: Defaults) -> Iterable[CallSpec]:
    scripts = [sdef.script or dflt.script or []]
    for v in (sdef.versions or {}).values():
        if v.script is not None:
            scripts.append(v.script)
    for script in scripts:
        for step in script:
            for cmd in step if isinstance(step, list) else [step]:
                if isinstance(cmd, CallCmd):
                    yield cmd.call if isinstance(cmd.call, CallSpec) else CallSpec(service=cmd.call)
