"""The registry of finding codes: every finding ``meshsim validate`` (and ``run``) reports gets one stable
code, level and name, in the conventions of ``istioctl analyze`` (istio/istio
pkg/config/analysis/msg/messages.yaml: a code, a level, one message type per check).

:data:`CHECKS` is the one home of codes and levels; docs/validate-codes.md is generated from it
(:func:`codes_table`, ``meshsim validate --list-codes``) and a test keeps the two equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from meshsim.errors import Finding

__all__ = ["Level", "LEVELS", "Check", "CHECKS", "check_of", "reported", "codes_table"]

Level = Literal["error", "warning", "info"]

LEVELS: tuple[Level, ...] = ("info", "warning", "error")
"""From least to most severe, as istioctl's ``--failure-threshold``/``--output-threshold`` order them."""


@dataclass(frozen=True)
class Check:
    """One kind of finding: its stable ``code`` (``MSH0101``), ``level``, a CamelCase ``name`` as
    istioctl names its message types, what it means and how to fix it, and ``istio``: the istioctl
    analyze code of the same check (with its level there), if istioctl has one.

    A finding is of this kind when ``message`` (a regex, searched in the finding's message) and
    ``loc`` (a regex, searched in its field path) match; ``level`` is the level the finding is
    reported at, whatever level the finding was raised with.
    """

    code: str
    level: Level
    name: str
    meaning: str
    fix: str
    message: str = ""
    loc: str = ""
    istio: str = ""
    raises: bool = False
    """Also takes findings raised at a lower level (a compiler warning this check reports as an error)."""

    def matches(self, f: Finding) -> bool:
        """Whether ``f`` is of this kind; a check without patterns (the fallback of its level) matches none."""
        if not self.message and not self.loc:
            return False
        return bool(re.search(self.message, f.message)) and bool(re.search(self.loc, f.loc))


CHECKS: tuple[Check, ...] = (
    # errors: the config cannot be simulated as written
    Check(
        "MSH0101",
        "error",
        "ReferencedResourceNotFound",
        "A VirtualService routes to a destination host that is no service of the topology.",
        "Name a service of the topology (or add it to the topology).",
        message=r"^unknown host ",
        istio="IST0101 (Error)",
    ),
    Check(
        "MSH0102",
        "error",
        "VirtualServiceHostNotFound",
        "A VirtualService applied to sidecars names in `hosts` a host that is no service of the topology, "
        "so none of its rules would apply.",
        "Name a service of the topology in `spec.hosts`, or bind the VirtualService to a Gateway with `gateways:`.",
        message=r"is not a service of the topology; ignored",
        loc=r"^spec\.hosts\[",
        raises=True,
    ),
    Check(
        "MSH0103",
        "error",
        "ReferencedSubsetNotFound",
        "A VirtualService routes to a subset no DestinationRule of the host defines.",
        "Define the subset in the host's DestinationRule, or fix its name.",
        message=r"^unknown subset ",
        istio="IST0101 (Error)",
    ),
    Check(
        "MSH0104",
        "error",
        "CallToUndefinedService",
        "A topology script calls a service the topology does not define.",
        "Define the service in the MockServiceGraph, or fix the call's `service`.",
        message=r"^calls undefined service ",
    ),
    Check(
        "MSH0105",
        "error",
        "EntryNotFound",
        "The LoadProfile's entry is not a service of the topology, cannot be told, or has no pods.",
        "Set LoadProfile `spec.entry` (or `isEntrypoint`) to a service with at least one replica.",
        message=r"^entry .* is not a service|cannot tell the entry service|^the entry service .* has no pods",
    ),
    Check(
        "MSH0106",
        "error",
        "SchemaValidationError",
        "A document is not valid input: bad YAML, a field of the wrong type or range, an unknown kind in "
        "an Istio or meshsim API group.",
        "Fix the field the message names (file, line and field path are given).",
        istio="IST0106 (Error)",
    ),
    Check(
        "MSH0107",
        "error",
        "ZeroTotalWeight",
        "Every destination of a VirtualService route has weight 0: no request can be routed.",
        "Give at least one destination a positive weight.",
        message=r"total destination weight is 0",
    ),
    Check(
        "MSH0108",
        "error",
        "CallCycle",
        "A service calls itself or is on a call cycle: a request that follows it never finishes.",
        "Break the cycle; meshsim needs an acyclic call graph.",
        message=r"calls itself|is on a call cycle",
    ),
    Check(
        "MSH0109",
        "error",
        "InvalidRegex",
        "A VirtualService regex that RE2 (Envoy's engine) or meshsim's matcher cannot compile.",
        "Write the pattern in RE2 syntax (no look-arounds or back-references).",
        message=r"regex",
        loc=r"\.regex$",
    ),
    Check(
        "MSH0110",
        "error",
        "GatewayNotFound",
        "The LoadProfile enters through a Gateway that is not in the input, or one with 0 pods.",
        "Add the Gateway (e.g. Istio's bookinfo-gateway.yaml), fix `spec.gateway`, or give it pods.",
        message=r"^no Gateway .* in the input \(known|^the gateway has 0 pods",
        istio="IST0101 (Error)",
    ),
    Check(
        "MSH0111",
        "error",
        "DuplicateService",
        "A service is defined twice in the topology.",
        "Keep one definition.",
        message=r"is defined twice",
    ),
    Check(
        "MSH0112",
        "error",
        "TooLargeToSimulate",
        "More pods in total than meshsim simulates.",
        "Simulate fewer replicas (a part of the mesh, or fewer replicas per version).",
        message=r"pods in total, more than",
    ),
    Check(
        "MSH0113",
        "error",
        "ScaleTargetNotFound",
        "A HorizontalPodAutoscaler's `scaleTargetRef` is not a Deployment of the mesh (Kubernetes reports "
        "FailedGetScale and never scales).",
        "Name the Deployment (its `metadata.name`, or `<service>-<version>` for a topology without Deployments).",
        message=r"^no Deployment .* in namespace|^meshsim scales Deployments, not",
    ),
    Check(
        "MSH0114",
        "error",
        "MetricNotObservable",
        "A HorizontalPodAutoscaler metric meshsim cannot observe: an External or ContainerResource metric, a "
        "Pods metric that is not a request rate, an Object that is not a Service, or CPU on pods without CPU requests.",
        "Scale on a request-rate Pods metric or a Service's request rate, or give every container a CPU request.",
        message=r"^meshsim cannot observe|^meshsim observes|^a CPU metric needs CPU requests|takes a Utilization or AverageValue",
        loc=r"^spec\.metrics\[",
    ),
    Check(
        "MSH0115",
        "error",
        "AmbiguousScaleTarget",
        "Two HorizontalPodAutoscalers scale the same Deployment (Kubernetes sets AmbiguousSelector and scales "
        "with neither).",
        "Keep one HorizontalPodAutoscaler per Deployment.",
        message=r"is already scaled by HorizontalPodAutoscaler",
    ),
    Check(
        "MSH0116",
        "error",
        "LimitBelowRequest",
        "A container's CPU limit is below its request (the API server refuses such a pod: "
        "`must be less than or equal to cpu limit`).",
        "Raise the limit or lower the request.",
        message=r"^CPU limit .* is below the request",
    ),
    Check(
        "MSH0117",
        "error",
        "NodeNotFound",
        "A pod is pinned (`nodeName`) to a node that is not in the input, or selects (`nodeSelector`) labels no "
        "node has.",
        "Add the Node (`meshsim.io/v1alpha1` or a `kubectl get nodes -o yaml` export), or fix the name or labels.",
        message=r"which does not exist \(nodes:|^no node has the labels",
    ),
    Check(
        "MSH0118",
        "error",
        "Unschedulable",
        "A pod requests more CPU than any declared node has free: Kubernetes would leave it Pending "
        "(FailedScheduling, Insufficient cpu).",
        "Lower the pod's CPU requests, or add or enlarge nodes.",
        message=r"more than any node has free",
    ),
    # warnings: it can be simulated, but probably not as the user intends
    Check(
        "MSH0201",
        "warning",
        "UnknownDestinationRuleHost",
        "A DestinationRule's host is no service of the topology; the rule is ignored.",
        "Name a service of the topology in `spec.host`.",
        message=r"is not a service of the topology; ignored",
        loc=r"^spec\.host$",
        istio="IST0174 (Warning)",
    ),
    Check(
        "MSH0202",
        "warning",
        "DuplicateDestinationRule",
        "A second DestinationRule for a host: its subsets are merged, its trafficPolicy ignored (Istio keeps the first).",
        "Merge the two rules into one.",
        message=r"a second DestinationRule for",
    ),
    Check(
        "MSH0203",
        "warning",
        "DuplicateVirtualService",
        "A second VirtualService for a host applied to sidecars; Istio uses one, this one is ignored.",
        "Merge the two VirtualServices into one.",
        message=r"already has VirtualService",
        istio="IST0109 (Error) for VirtualServices of the mesh gateway",
    ),
    Check(
        "MSH0204",
        "warning",
        "DestinationRuleSubsetNotSelectPods",
        "A subset a route uses selects no pods: requests routed to it get 503 UH.",
        "Fix the subset's labels or deploy pods with them.",
        message=r"selects no pods of .*503 UH",
        istio="IST0173 (Error)",
    ),
    Check(
        "MSH0205",
        "warning",
        "ServiceNotReachable",
        "A service receives no load: no call path from the entry reaches it, or every route to it goes "
        "to a subset without pods.",
        "Call it from a reachable service, or route to a subset that has pods (the message says which).",
        message=r"is not reachable from the entry|receives no load",
    ),
    Check(
        "MSH0206",
        "warning",
        "ClusterWithoutEndpoints",
        "A service has no pods (0 replicas): calls to it get 503 UH.",
        "Give the service at least one replica.",
        message=r"cluster has no endpoints",
    ),
    Check(
        "MSH0207",
        "warning",
        "RetryAmplification",
        "Retries that fire on overload multiply past 3 attempts per entry request along a call path.",
        "Retry at one layer only, add a retryBudget, or cap attempts.",
        message=r"^retries multiply to",
    ),
    Check(
        "MSH0208",
        "warning",
        "AuthorizationDenied",
        "An AuthorizationPolicy denies a call the topology makes: 403 at the server's sidecar.",
        "Allow the caller's principal, namespace, method or path, or remove the call.",
        message=r"^denies .*: 403 at",
    ),
    Check(
        "MSH0209",
        "warning",
        "ConnectionRefusedByPeerAuthentication",
        "A PeerAuthentication refuses a connection the topology makes (plaintext to STRICT, mTLS to DISABLE): 503 UC.",
        "Align the DestinationRule `tls.mode` with the server's PeerAuthentication.",
        message=r"refuses this connection",
    ),
    Check(
        "MSH0210",
        "warning",
        "EntryServiceSplitNotSimulated",
        "A VirtualService splits or matches traffic to the entry service, but load from outside the mesh passes "
        "no client sidecar, so its rules do not apply to the entry requests (as in Istio).",
        "Enter through a gateway (LoadProfile `spec.gateway` with a Gateway-bound VirtualService), or add a "
        "client service that calls the entry.",
        message=r"load from outside the mesh passes no client sidecar",
    ),
    Check(
        "MSH0211",
        "warning",
        "OverrideShadowed",
        "A `--set` value is shadowed by another input that takes precedence (a Deployment's replicas over the "
        "topology's `numReplicas`; `--rps`, `--duration` or `--warmup` over a `--set` of the same field), so it "
        "changes nothing.",
        "Set the value that wins (the message names it), e.g. `--set Deployment/NAME.spec.replicas=3`.",
        message=r"is shadowed by",
    ),
    Check(
        "MSH0212",
        "warning",
        "GatewayBindingUnused",
        "A VirtualService is bound to a Gateway that is not in the input.",
        "Add the Gateway, or remove it from `spec.gateways`.",
        message=r"this binding is unused",
        istio="IST0101 (Error)",
    ),
    Check(
        "MSH0213",
        "warning",
        "GatewayWithoutRoutes",
        "No VirtualService bound to the Gateway has a route: every request gets 404 NR.",
        "Bind a VirtualService with an http route to the Gateway.",
        message=r"no VirtualService bound to this Gateway has a route",
    ),
    Check(
        "MSH0214",
        "warning",
        "WorkloadNotInTopology",
        "A Kubernetes Service or Deployment matches no topology service; it is skipped.",
        "Add the service to the MockServiceGraph, or fix the selector or pod labels.",
        message=r"has no entry in the topology|no topology service selects these pods",
    ),
    Check(
        "MSH0215",
        "warning",
        "AuthorizationPolicyIgnored",
        "An AuthorizationPolicy (or a part of it) meshsim does not model, or one selecting no workload.",
        "Check the policy; the message says what is ignored.",
        message=r"the policy is ignored|selects no workload of the topology",
        istio="IST0127 (Warning) NoMatchingWorkloadsFound, for the selector",
    ),
    Check(
        "MSH0216",
        "warning",
        "RunOverBudget",
        "A run would simulate more calls than the limits policy allows; `meshsim run` refuses it without --force.",
        "Shorten the run, lower the rate, or pass --force.",
        message=r"over the budget of",
    ),
    Check(
        "MSH0217",
        "warning",
        "WarmupTooShort",
        "The entry latency still drifts after the warm-up (MSER, White 1997): the measured window starts in the "
        "initial transient.",
        "Use the suggested --warmup.",
        message=r"still drifts after the",
    ),
    Check(
        "MSH0218",
        "warning",
        "KindNotModelled",
        "A document of a kind meshsim does not model (or does not know) is skipped.",
        "Nothing, if the kind does not affect traffic; otherwise see the README's Inputs table.",
        message=r"; skipped$",
    ),
    Check(
        "MSH0219",
        "warning",
        "FieldNotModelled",
        "A field meshsim does not model yet (or an unknown key isotope also ignores) is ignored.",
        "Nothing, if the field does not matter for the question; otherwise expect a difference from the real mesh.",
        message=r"ignored|not modelled",
    ),
    Check(
        "MSH0220",
        "warning",
        "RegexEngineMissing",
        "The google-re2 binding is not installed: regexes are checked with Python's re.",
        "Install meshsim with its dependencies (google-re2).",
        message=r"google-re2 binding is not installed",
    ),
    Check(
        "MSH0221",
        "warning",
        "DestinationPortMismatch",
        "A VirtualService destination port the service does not serve; the service's port is used.",
        "Use the service's port.",
        message=r"serves port .*; using it",
    ),
    # info: worth knowing, nothing to fix
    Check(
        "MSH0301",
        "info",
        "ObjectReplaced",
        "An object with the same kind and name as an earlier one replaces it (as `kubectl apply` would), or "
        "MeshSettings are merged.",
        "Nothing, if intended.",
        message=r"^replaces the |^merged over the MeshSettings",
    ),
    Check(
        "MSH0302",
        "info",
        "DefaultRate",
        "The LoadProfile gives no rate; 100 requests/s is used.",
        "Set LoadProfile `spec.rate`.",
        message=r"no rate given",
    ),
    Check(
        "MSH0303",
        "info",
        "GatewayNotEntered",
        "A Gateway is loaded but the LoadProfile does not enter through it.",
        "Set LoadProfile `spec.gateway` to enter through it.",
        message=r"does not enter through it",
    ),
    Check(
        "MSH0304",
        "info",
        "UnusedEmptySubset",
        "A subset no route uses selects no pods.",
        "Nothing (Istio's destination-rule-all.yaml defines such subsets).",
        message=r"selects no pods of .*no route uses it",
    ),
    Check(
        "MSH0305",
        "info",
        "ReplicasOverridden",
        "A topology version's `replicas` overrides its Deployment's replicas.",
        "Nothing, if intended.",
        message=r"overrides the Deployment's replicas",
    ),
    Check(
        "MSH0306",
        "info",
        "RetryMultiplier",
        "The worst-case retry multiplier along a call path (below the warning's 3 attempts).",
        "Nothing.",
        message=r"worst-case retry multiplier",
    ),
    Check(
        "MSH0307",
        "info",
        "KubernetesKindSkipped",
        "Kubernetes kinds that do not affect the simulation (ConfigMap, Secret, ...) are skipped, in one summary "
        "line; ServiceAccounts silently (their names, the mTLS identities, come from the Deployments' "
        "serviceAccountName).",
        "Nothing.",
        message=r"does not affect the simulation",
    ),
)
"""Every check, by code. Codes are stable: a check keeps its code; a retired code is not reused."""

_FALLBACK = {
    "error": next(c for c in CHECKS if c.code == "MSH0106"),
    "warning": next(c for c in CHECKS if c.code == "MSH0219"),
    "info": next(c for c in CHECKS if c.code == "MSH0307"),
}


def check_of(f: Finding) -> Check:
    """The :class:`Check` ``f`` is an instance of: the first whose message and field patterns match
    it among the more severe checks that take lower-level findings (``raises``: a warning reported
    as an error; an error is never lowered), then among those of ``f``'s level; else the
    schema-validation check for errors, the unmodelled-field check for warnings and the
    skipped-kind note for infos."""
    rank = LEVELS.index(f.level)
    for c in CHECKS:
        if c.raises and LEVELS.index(c.level) > rank and c.matches(f):
            return c
    for c in CHECKS:
        if c.level == f.level and c.matches(f):
            return c
    return _FALLBACK[f.level]


def reported(f: Finding) -> Finding:
    """``f`` at the level of its check (:func:`check_of`); a warning reported as an error loses its
    "; ignored" (nothing is ignored: the input is refused)."""
    c = check_of(f)
    if c.level == f.level:
        return f
    return Finding(c.level, f.source, f.loc, f.message.removesuffix("; ignored"))


def codes_table() -> str:
    """The Markdown table of :data:`CHECKS` (docs/validate-codes.md holds it verbatim)."""
    rows = ["| code | level | name | meaning | fix | istioctl analyze |", "|---|---|---|---|---|---|"]
    for c in CHECKS:
        cells = [
            f'<a id="{c.code.lower()}"></a>{c.code}',
            c.level.capitalize(),
            c.name,
            c.meaning,
            c.fix,
            c.istio or "-",
        ]
        rows.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(rows) + "\n"
