"""Compile a validated :class:`~meshsim.config.MeshConfig` into a frozen :class:`~meshsim.model.ir.MeshModel`.

This is the one translation from Istio's API to Envoy's shape; the simulator and the xDS translator
both read its output. Istio's defaults are applied here and nowhere else:

- no VirtualService: one default route to ``outbound|port||host`` with Istio's default retry policy
  and no timeout;
- retries: :func:`~meshsim.model.rules.retry.convert_retry_policy` follows istiod's
  ``retry.ConvertPolicy`` (``pilot/pkg/networking/core/route/retry/retry.go``);
- circuit breakers: 2^32-1 for every threshold Istio writes, DestinationRule values > 0 override
  (``pilot/pkg/networking/core/cluster_traffic_policy.go``);
- traffic policy: top level, subset and port-level blocks merge as istiod's ``MergeSubsetTrafficPolicy``
  (``pilot/pkg/networking/util/util.go``; a port-level entry replaces every block);
- LB: LEAST_REQUEST unless the DestinationRule says otherwise (consistent hashing: RING_HASH or
  MAGLEV clusters and the routes' ``hash_policy``);
- outlier detection: only with an ``outlierDetection`` block, Envoy defaults for unset fields, panic
  threshold = ``minHealthPercent`` (default 0).

One builder per resource kind, as istiod's ``pilot/pkg/networking/core`` has: :mod:`.services`
(services, workloads, endpoints, proxies), :mod:`.clusters`, :mod:`.routes`, :mod:`.gateway`,
:mod:`.security` (PeerAuthentication, AuthorizationPolicy), :mod:`.load`; :mod:`.mesh` orchestrates.

:func:`compile_with_findings` returns the model and the findings (errors and warnings, as
``istioctl analyze`` separates them); :func:`compile_checked` returns both and raises on the first
error; :func:`compile_model` returns only the model.
"""

from meshsim.model.checks import security_findings
from meshsim.model.compile.mesh import compile_checked, compile_model, compile_with_findings
from meshsim.model.compile.security import peer_mode
from meshsim.model.errors import CompileError
from meshsim.model.rules.dist import to_dist
from meshsim.model.rules.retry import (
    ISTIO_DEFAULT_RETRY_ON,
    RETRY_ON_TOKENS,
    convert_retry_policy,
    default_retry_policy,
    retriable_status,
)

__all__ = [
    "ISTIO_DEFAULT_RETRY_ON",
    "RETRY_ON_TOKENS",
    "CompileError",
    "compile_checked",
    "compile_model",
    "compile_with_findings",
    "convert_retry_policy",
    "default_retry_policy",
    "peer_mode",
    "retriable_status",
    "security_findings",
    "to_dist",
]
