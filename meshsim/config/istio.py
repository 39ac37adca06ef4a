"""Istio ``networking.istio.io`` ``VirtualService``, ``DestinationRule`` and ``Gateway`` (v1, v1beta1, v1alpha3).

Field names are Istio's own (``istio/api`` ``networking/v1alpha3/virtual_service.proto`` and
``destination_rule.proto``). Every field of the API is accepted, so users' files load unmodified;
fields meshsim does not model yet are declared ``__unmodelled__`` and listed in a warning. A key that
is not in Istio's API at all is an error, as the API server would reject it.

Value ranges are those Istio's validation webhook enforces (``istio/istio`` ``pkg/config/validation``
``validation.go``, ``virtualservice.go`` and ``agent/validation.go``): durations >= 1 ms in whole
milliseconds (``agent.ValidateDuration``), thresholds and weights >= 0, percentages in 0..100 (and a
fractional ``Percent`` either 0 or within [0.0001, 100]), ``retryOn`` policies from Envoy's
``x-envoy-retry-on``/``x-envoy-retry-grpc-on`` lists or HTTP status codes, and no retry settings
when ``attempts`` is 0 or unset ("http retry policy configured when attempts are set to 0").
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from meshsim.config.base import IstioDuration, IstioIdleTimeout, NonNegDuration, OpenModel, StrictModel
from meshsim.config.limits import Int32, UInt32
from meshsim.units import show

__all__ = [
    "ObjectMeta",
    "StringMatch",
    "HTTPMatchRequest",
    "PortSelector",
    "Destination",
    "HTTPRouteDestination",
    "HTTPRetry",
    "Percent",
    "HTTPFaultInjection",
    "HTTPRoute",
    "VirtualServiceSpec",
    "VirtualService",
    "ConnectionPoolSettings",
    "OutlierDetection",
    "ConsistentHashLB",
    "LoadBalancerSettings",
    "RetryBudget",
    "TrafficPolicy",
    "Subset",
    "DestinationRuleSpec",
    "DestinationRule",
    "ClientTLSSettings",
    "GatewayServer",
    "GatewaySpec",
    "Gateway",
]


class ObjectMeta(OpenModel):
    """Kubernetes metadata; only ``name``, ``namespace`` and ``labels`` matter to meshsim."""

    name: str = Field(min_length=1)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class StringMatch(StrictModel):
    """At most one of ``exact``, ``prefix``, ``regex`` (RE2, matched against the whole string). None
    of them (``{}``) is a presence match, as the oneof left unset is in Istio's API; istiod also reads
    ``regex: "*"`` as presence (``route.go`` ``canBeConvertedToPresentMatch``)."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one(self) -> StringMatch:
        if sum(x is not None for x in (self.exact, self.prefix, self.regex)) > 1:
            raise ValueError("a string match sets at most one of exact, prefix, regex")
        return self

    @property
    def is_presence(self) -> bool:
        """Whether istiod translates this match to Envoy's ``present_match``: no match type set, or
        ``regex: "*"`` (not RE2; Istio's catch-all)."""
        return self.exact is None and self.prefix is None and self.regex in (None, "*")


class PortSelector(StrictModel):
    number: int = Field(ge=1, le=65535)


class HTTPMatchRequest(StrictModel):
    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] = Field(default_factory=dict)
    port: int | None = None
    sourceLabels: dict[str, str] = Field(default_factory=dict)
    gateways: list[str] | None = None
    queryParams: dict[str, StringMatch] | None = None
    ignoreUriCase: bool = False
    withoutHeaders: dict[str, StringMatch] = Field(default_factory=dict)
    sourceNamespace: str | None = None
    statPrefix: str | None = None

    __unmodelled__ = frozenset({"scheme", "authority", "gateways", "queryParams", "sourceNamespace", "statPrefix"})

    @model_validator(mode="before")
    @classmethod
    def _catch_all(cls, data: Any) -> Any:
        """A header (or query parameter) ``regex: "*"`` is istiod's presence match, not an RE2 regex
        (``route.go`` ``canBeConvertedToPresentMatch``): it is read as ``{}``. A ``uri`` regex ``"*"``
        stays a regex (istiod writes it to ``safe_regex``, which Envoy rejects)."""

        def star(sm: Any) -> bool:
            return isinstance(sm, dict) and sm.get("regex") == "*" and len(sm) == 1

        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name in ("headers", "withoutHeaders", "queryParams"):
            table = out.get(name)
            if isinstance(table, dict) and any(star(sm) for sm in table.values()):
                out[name] = {k: {} if star(sm) else sm for k, sm in table.items()}
        for name in ("method", "authority", "scheme"):
            if star(out.get(name)):
                out[name] = {}
        return out


class Destination(StrictModel):
    host: str = Field(min_length=1)
    subset: str | None = None
    port: PortSelector | None = None


class HTTPRouteDestination(StrictModel):
    destination: Destination
    weight: Int32 | None = None
    headers: dict[str, Any] | None = None

    __unmodelled__ = frozenset({"headers"})


RETRY_ON_POLICIES = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
"""Istio's ``supportedRetryOnPolicies`` (``pkg/config/validation/agent/validation.go``): Envoy's
``x-envoy-retry-on`` and ``x-envoy-retry-grpc-on`` policies."""

_HTTP_CODES = frozenset(int(c) for c in HTTPStatus)


class HTTPRetry(StrictModel):
    """``attempts`` retries after the first try; Istio's defaults are those of pilot/pkg/networking/core/route/retry/retry.go ``DefaultPolicy``."""

    attempts: Int32 | None = None
    perTryTimeout: IstioDuration | None = None
    retryOn: str | None = None
    retryRemoteLocalities: bool | None = None
    retryIgnorePreviousHosts: bool | None = None
    backoff: IstioDuration | None = None

    @field_validator("retryOn")
    @classmethod
    def _policies(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        for policy in value.split(","):
            if policy in RETRY_ON_POLICIES or (policy.isdigit() and int(policy) in _HTTP_CODES):
                continue
            raise ValueError(
                f"{show(policy)} is not a valid retryOn policy (Envoy's x-envoy-retry-on list or an HTTP status)"
            )
        return value

    @model_validator(mode="after")
    def _attempts_set(self) -> HTTPRetry:
        if not self.attempts and (
            self.perTryTimeout is not None or self.retryOn or self.retryRemoteLocalities is not None
        ):
            raise ValueError(
                "http retry policy configured when attempts are set to 0 (disabled); set attempts, as Istio requires"
            )
        return self

    __unmodelled__ = frozenset({"retryRemoteLocalities"})
    __unmodelled_why__: ClassVar[dict[str, str]] = {
        "retryRemoteLocalities": "localities are not modelled; ignored",
    }


class Percent(StrictModel):
    """Istio's fractional ``Percent``: 0, or within [0.0001, 100] (``validatePercentage``)."""

    value: float = Field(ge=0, le=100)

    @field_validator("value")
    @classmethod
    def _resolution(cls, value: float) -> float:
        if 0 < value < 0.0001:
            raise ValueError(f"percentage {value} is neither 0.0, nor in range [0.0001, 100.0]")
        return value


class _Delay(StrictModel):
    fixedDelay: IstioDuration | None = None
    exponentialDelay: IstioDuration | None = None
    percentage: Percent | None = None
    percent: int | None = Field(default=None, ge=0, le=100)

    __unmodelled__ = frozenset({"exponentialDelay"})
    __unmodelled_why__: ClassVar[dict[str, str]] = {
        "exponentialDelay": "unsupported by Istio itself (dropped by istiod)"
    }


class _Abort(StrictModel):
    httpStatus: int | None = Field(default=None, ge=200, le=599)
    grpcStatus: str | None = None
    http2Error: str | None = None
    percentage: Percent | None = None

    __unmodelled__ = frozenset({"grpcStatus", "http2Error"})


class HTTPFaultInjection(StrictModel):
    delay: _Delay | None = None
    abort: _Abort | None = None


class HTTPRoute(StrictModel):
    name: str | None = None
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    route: list[HTTPRouteDestination] = Field(default_factory=list)
    redirect: dict[str, Any] | None = None
    directResponse: dict[str, Any] | None = None
    delegate: dict[str, Any] | None = None
    rewrite: dict[str, Any] | None = None
    timeout: IstioDuration | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: dict[str, Any] | None = None
    mirrors: list[dict[str, Any]] | None = None
    mirrorPercentage: Percent | None = None
    mirrorPercent: int | None = Field(default=None, ge=0, le=100)
    corsPolicy: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None

    __unmodelled__ = frozenset(
        {
            "redirect",
            "directResponse",
            "delegate",
            "rewrite",
            "mirror",
            "mirrors",
            "mirrorPercentage",
            "mirrorPercent",
            "corsPolicy",
            "headers",
        }
    )


class VirtualServiceSpec(StrictModel):
    hosts: list[str] = Field(min_length=1)
    gateways: list[str] | None = None
    http: list[HTTPRoute] = Field(default_factory=list)
    tls: list[dict[str, Any]] | None = None
    tcp: list[dict[str, Any]] | None = None
    exportTo: list[str] | None = None

    __unmodelled__ = frozenset({"tls", "tcp"})


class VirtualService(StrictModel):
    apiVersion: str
    kind: Literal["VirtualService"]
    metadata: ObjectMeta
    spec: VirtualServiceSpec


class _TCPSettings(StrictModel):
    maxConnections: Int32 | None = None
    connectTimeout: IstioDuration | None = None
    tcpKeepalive: dict[str, Any] | None = None
    maxConnectionDuration: IstioDuration | None = None
    idleTimeout: IstioIdleTimeout | None = None

    __unmodelled__ = frozenset({"tcpKeepalive", "maxConnectionDuration", "connectTimeout"})
    __unmodelled_why__: ClassVar[dict[str, str]] = {
        "connectTimeout": "written to Envoy (connect_timeout); the simulator's connects never time out (not modelled)",
    }


class _HTTPSettings(StrictModel):
    http1MaxPendingRequests: Int32 | None = None
    http2MaxRequests: Int32 | None = None
    maxRequestsPerConnection: Int32 | None = None
    maxRetries: Int32 | None = None
    idleTimeout: IstioDuration | None = None
    h2UpgradePolicy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    useClientProtocol: bool | None = None
    maxConcurrentStreams: Int32 | None = None

    @model_validator(mode="after")
    def _client_protocol(self) -> _HTTPSettings:
        if self.h2UpgradePolicy == "UPGRADE" and self.useClientProtocol:
            raise ValueError("use client protocol must not be true when H2UpgradePolicy is UPGRADE")
        return self

    __unmodelled__ = frozenset({"useClientProtocol"})


class ConnectionPoolSettings(StrictModel):
    tcp: _TCPSettings | None = None
    http: _HTTPSettings | None = None


class OutlierDetection(StrictModel):
    splitExternalLocalOriginErrors: bool | None = None
    consecutiveLocalOriginFailures: UInt32 | None = None
    consecutiveGatewayErrors: UInt32 | None = None
    consecutive5xxErrors: UInt32 | None = None
    consecutiveErrors: Int32 | None = None
    interval: IstioDuration | None = None
    baseEjectionTime: IstioDuration | None = None
    maxEjectionPercent: int | None = Field(default=None, ge=0, le=100)
    minHealthPercent: int | None = Field(default=None, ge=0, le=100)

    __unmodelled__ = frozenset(
        {"splitExternalLocalOriginErrors", "consecutiveLocalOriginFailures", "consecutiveErrors"}
    )

    @model_validator(mode="after")
    def _local_origin(self) -> OutlierDetection:
        if not self.splitExternalLocalOriginErrors and self.consecutiveLocalOriginFailures:
            raise ValueError(
                "outlier detection consecutive local origin failures is specified, but split external "
                "local origin errors is set to false"
            )
        return self


class _HTTPCookie(StrictModel):
    """``ConsistentHashLB.HTTPCookie``: the cookie to hash on (``name`` required, istiod's validation)."""

    name: str = Field(min_length=1)
    path: str | None = None
    ttl: NonNegDuration | None = None
    attributes: list[dict[str, Any]] | None = None

    __unmodelled__ = frozenset({"attributes"})
    __unmodelled_why__: ClassVar[dict[str, str]] = {
        "attributes": "cookie attributes only shape the Set-Cookie Envoy generates; not modelled"
    }


class _RingHash(StrictModel):
    minimumRingSize: Annotated[int, Field(ge=0)] | None = None


class _Maglev(StrictModel):
    """Maglev's lookup table: a prime below 5000011 (istiod ``validateLoadBalancer``)."""

    tableSize: Annotated[int, Field(gt=0, lt=5000011)]

    @field_validator("tableSize")
    @classmethod
    def _prime(cls, value: int) -> int:
        if value < 2 or any(value % d == 0 for d in range(2, int(value**0.5) + 1)):
            raise ValueError(f"tableSize must be a prime number for maglev, got {value}")
        return value


class ConsistentHashLB(StrictModel):
    """``LoadBalancerSettings.ConsistentHashLB`` (``destination_rule.proto``): one hash key
    (``httpHeaderName``, ``httpCookie``, ``useSourceIp``, ``httpQueryParameterName``) and one algorithm
    (``ringHash``, ``maglev``, or the deprecated ``minimumRingSize``: a ring)."""

    httpHeaderName: str | None = None
    httpCookie: _HTTPCookie | None = None
    useSourceIp: bool | None = None
    httpQueryParameterName: str | None = None
    ringHash: _RingHash | None = None
    maglev: _Maglev | None = None
    minimumRingSize: Annotated[int, Field(ge=0)] | None = None

    __unmodelled__ = frozenset({"httpQueryParameterName"})
    __unmodelled_why__: ClassVar[dict[str, str]] = {
        "httpQueryParameterName": "requests carry no query parameters in meshsim: emitted to Envoy, the simulator "
        "hashes no key (a random host per request)"
    }

    @model_validator(mode="after")
    def _oneofs(self) -> ConsistentHashLB:
        keys = [self.httpHeaderName, self.httpCookie, self.useSourceIp, self.httpQueryParameterName]
        if sum(k is not None for k in keys) > 1:
            raise ValueError("set only one hash key of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName")
        if self.ringHash is not None and self.maglev is not None:
            raise ValueError("set only one of ringHash and maglev")
        if self.minimumRingSize and (self.ringHash is not None or self.maglev is not None):
            raise ValueError("only one of MinimumRingSize or Maglev/Ringhash can be specified")
        return self


class LoadBalancerSettings(StrictModel):
    simple: Literal["UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"] | None = None
    consistentHash: ConsistentHashLB | None = None
    localityLbSetting: dict[str, Any] | None = None
    warmupDurationSecs: NonNegDuration | None = None
    warmup: dict[str, Any] | None = None

    __unmodelled__ = frozenset({"localityLbSetting", "warmupDurationSecs", "warmup"})

    @model_validator(mode="after")
    def _one_policy(self) -> LoadBalancerSettings:
        if self.simple is not None and self.consistentHash is not None:
            raise ValueError("set only one of simple and consistentHash (a oneof in Istio's API)")
        return self


class RetryBudget(StrictModel):
    """Istio 1.27+ ``trafficPolicy.retryBudget`` (Envoy ``thresholds.retry_budget``). ``percent`` is
    Envoy's ``budget_percent`` (``type.v3.Percent``, 0..100); ``minRetryConcurrency`` a ``uint32``."""

    percent: Annotated[float, Field(ge=0, le=100)] | Percent | None = None
    minRetryConcurrency: UInt32 | None = None
    budgetInterval: IstioDuration | None = None

    __unmodelled__ = frozenset({"budgetInterval"})


class ClientTLSSettings(StrictModel):
    """DestinationRule ``trafficPolicy.tls`` (``destination_rule.proto`` ``ClientTLSSettings``).

    ``mode``: ``DISABLE`` (plaintext), ``ISTIO_MUTUAL`` (Istio's mTLS with the workload certificates);
    ``SIMPLE`` and ``MUTUAL`` (user-provided certificates) are treated as TLS origination with the
    same handshake cost as ``ISTIO_MUTUAL`` but no peer identity. Unset: Istio's auto mTLS decides.
    """

    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] | None = None
    clientCertificate: str | None = None
    privateKey: str | None = None
    caCertificates: str | None = None
    credentialName: str | None = None
    subjectAltNames: list[str] | None = None
    sni: str | None = None
    insecureSkipVerify: bool | None = None
    caCrl: str | None = None

    __unmodelled__ = frozenset(
        {
            "clientCertificate",
            "privateKey",
            "caCertificates",
            "credentialName",
            "subjectAltNames",
            "sni",
            "insecureSkipVerify",
            "caCrl",
        }
    )


class _PortTrafficPolicy(StrictModel):
    port: PortSelector | None = None
    loadBalancer: LoadBalancerSettings | None = None
    connectionPool: ConnectionPoolSettings | None = None
    outlierDetection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TrafficPolicy(StrictModel):
    loadBalancer: LoadBalancerSettings | None = None
    connectionPool: ConnectionPoolSettings | None = None
    outlierDetection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    portLevelSettings: list[_PortTrafficPolicy] = Field(default_factory=list)
    tunnel: dict[str, Any] | None = None
    proxyProtocol: dict[str, Any] | None = None
    retryBudget: RetryBudget | None = None

    __unmodelled__ = frozenset({"tunnel", "proxyProtocol"})


class Subset(StrictModel):
    name: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    trafficPolicy: TrafficPolicy | None = None


class DestinationRuleSpec(StrictModel):
    host: str = Field(min_length=1)
    trafficPolicy: TrafficPolicy | None = None
    subsets: list[Subset] = Field(default_factory=list)
    exportTo: list[str] | None = None
    workloadSelector: dict[str, Any] | None = None

    __unmodelled__ = frozenset({"workloadSelector"})


class DestinationRule(StrictModel):
    apiVersion: str
    kind: Literal["DestinationRule"]
    metadata: ObjectMeta
    spec: DestinationRuleSpec


class _GatewayPort(StrictModel):
    number: int = Field(ge=1, le=65535)
    protocol: str | None = None
    name: str | None = None
    targetPort: int | None = None


class GatewayServer(StrictModel):
    """One ``servers[]`` entry of a Gateway (``gateway.proto`` ``Server``)."""

    port: _GatewayPort
    hosts: list[str] = Field(min_length=1)
    bind: str | None = None
    defaultEndpoint: str | None = None
    tls: dict[str, Any] | None = None
    name: str | None = None

    __unmodelled__ = frozenset({"bind", "defaultEndpoint", "tls"})


class GatewaySpec(StrictModel):
    """``selector`` picks the gateway pods by label (Istio's default ``istio: ingressgateway``)."""

    selector: dict[str, str] = Field(default_factory=dict)
    servers: list[GatewayServer] = Field(default_factory=list)


class Gateway(StrictModel):
    """``networking.istio.io`` ``Gateway``: the ingress gateway Envoy that load enters through when
    the LoadProfile names it (``spec.gateway``); VirtualServices bound to it by ``gateways:`` give its
    routes (Istio: a VirtualService's ``gateways`` decide whether it binds to gateways or to the mesh's sidecars, https://istio.io/latest/docs/reference/config/networking/virtual-service/#VirtualService)."""

    apiVersion: str
    kind: Literal["Gateway"]
    metadata: ObjectMeta
    spec: GatewaySpec = Field(default_factory=GatewaySpec)
