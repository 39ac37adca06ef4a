"""Static checks over the compiled model (``meshsim validate``): who may call whom under mTLS and
AuthorizationPolicy, in the spirit of ``istioctl analyze``."""

from __future__ import annotations

from meshsim.errors import Finding
from meshsim.model.ir import MeshModel, Workload
from meshsim.model.rules.authz import authz_verdict
from meshsim.model.rules.script import calls_of
from meshsim.model.rules.tls import tls_state

__all__ = ["security_findings"]


def security_findings(model: MeshModel) -> list[Finding]:
    """Static mTLS and authorization analysis over the topology's call graph (``meshsim validate``).

    For every call a workload's script makes (and the load's entry request, through the gateway when
    there is one) and every workload of the destination service, evaluate the destination's
    AuthorizationPolicies (DENY first, then ALLOW; Istio semantics, :func:`authz_verdict`) with the
    caller's principal (only over mTLS, as Istio's peer identity comes from the certificate), the
    call's method, path and its own headers (headers set by the load mix are checked per mix entry
    for the entry request only). Each denied edge is a warning naming the policy. A connection the
    server would refuse (plaintext to STRICT, mTLS to DISABLE) is a warning too.
    """
    out: list[Finding] = []
    default_cluster = {(c.service, c.subset): c for c in model.clusters}
    pols = model.authz

    def check(
        src_name: str,
        principal: str,
        tls: int,
        dst: Workload,
        method: str,
        path: str,
        port: int,
        headers: dict[str, str],
        loc: str,
    ) -> None:
        if tls < 0:
            out.append(
                Finding(
                    "warning",
                    "mTLS",
                    loc,
                    f"{src_name} -> {dst.key}: the server ({dst.mtls_mode}) refuses this "
                    f"connection ({'plaintext' if dst.mtls_mode == 'STRICT' else 'mTLS'}); requests get 503 UC",
                )
            )
            return
        deny = tuple(p for p in pols if p.action == "DENY" and dst.key in p.workloads)
        allow = tuple(p for p in pols if p.action == "ALLOW" and dst.key in p.workloads)
        if not deny and not allow:
            return
        ns = principal.split("/")[2] if principal.startswith("cluster.local/ns/") else ""
        pol = authz_verdict(
            deny, allow, principal if tls == 1 else "", ns if tls == 1 else "", method, path, headers, port
        )
        if pol is not None:
            hdr = f" with headers {headers}" if headers else ""
            out.append(
                Finding(
                    "warning",
                    f"AuthorizationPolicy {pol}",
                    loc,
                    f"denies {src_name} -> {dst.key} ({method} {path}{hdr}): 403 at {dst.service}'s sidecar",
                )
            )

    for svc in model.services:
        for wl in svc.workloads:
            for st in calls_of(wl.script):
                dsvc = model.service(st.service)
                c = default_cluster.get((dsvc.name, ""))
                for dwl in dsvc.workloads:
                    tls = tls_state(c.tls_mode if c is not None else None, dwl.mtls_mode)
                    check(
                        wl.key,
                        wl.principal,
                        tls,
                        dwl,
                        st.method,
                        st.path,
                        st.port,
                        dict(st.headers),
                        f"{wl.key} calls {st.service}",
                    )
    load = model.load
    entry = model.service(load.entry)
    for _, hdrs in load.header_mix:
        for dwl in entry.workloads:
            if model.gateway is not None:
                c = default_cluster.get((entry.name, ""))
                tls = tls_state(c.tls_mode if c is not None else None, dwl.mtls_mode)
                src_name, principal = model.gateway.workload, model.gateway.principal
            else:
                tls = tls_state("DISABLE", dwl.mtls_mode)  # the load source is outside the mesh
                src_name, principal = "load source (outside the mesh)", ""
            check(src_name, principal, tls, dwl, load.method, load.path, entry.port, dict(hdrs), "entry request")
    # one finding per distinct message
    seen: set[str] = set()
    uniq = []
    for f in out:
        if str(f) not in seen:
            seen.add(str(f))
            uniq.append(f)
    return uniq
