"""isotope's ``MockServiceGraph`` topology, exactly as isotope's Go code parses it, plus meshsim's extensions.

Stock isotope files load unchanged (isotope's Go parser, istio/tools ``isotope/convert/pkg/graph``): ``defaults`` (``default`` accepted as an alias),
``services`` with ``numReplicas``, ``errorRate``, ``responseSize``, ``script`` of sequential steps and one
level of concurrent groups, ``sleep`` and ``call`` (short and long form, ``size`` or ``payloadSize``,
``probability``). Unknown keys are kept and listed in a warning, where isotope ignores them silently.

meshsim extensions (stock isotope ignores them):

- ``sleep`` accepts a distribution mapping (:mod:`meshsim.config.distributions`);
- per service: ``concurrency`` (workers per replica, FIFO queue; unset = unbounded, like isotope's Go
  server), ``versions`` (per-version replicas, labels and behaviour overrides), ``errorStatus`` (default
  500), ``errorMode`` (``random``: each request fails independently with ``errorRate``, the default;
  ``every_nth``: isotope's per-pod cadence), ``port``, ``forwardHeaders``;
- per call: ``timeout``, ``retries`` (application-level), ``onError`` (``fail``, isotope's behaviour, or
  ``ignore``), ``path`` and ``method``;
- a ``cpu`` command (a duration or a distribution, like ``sleep``): CPU work on the app's worker thread,
  which needs a core of its node and counts against its container's CPU limit, where ``sleep`` only waits.
  With the CPU model off it takes its duration, as a sleep would.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from meshsim.config.base import ByteSize, LooseModel, NonNegDuration, Percentage, StrictModel
from meshsim.config.distributions import DistSpec
from meshsim.config.limits import MAX_CONCURRENCY, Replicas

__all__ = [
    "Sleep",
    "AppRetry",
    "CallSpec",
    "SleepCmd",
    "CpuCmd",
    "CallCmd",
    "Command",
    "Step",
    "VersionDef",
    "ServiceDef",
    "Defaults",
    "MockServiceGraph",
]


def _coerce_sleep(value: object) -> object:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"dist": "constant", "value": value}
    return value


Sleep = Annotated[DistSpec, BeforeValidator(_coerce_sleep)]
"""A duration (constant, as isotope) or a distribution mapping."""

ErrorMode = Literal["random", "every_nth"]


class AppRetry(StrictModel):
    """Application-level retries of one call (e.g. Bookinfo's productpage retries reviews once).

    ``attempts`` retries *after* the first try; ``retryOn`` lists what counts as a retriable failure:
    ``5xx`` (a 5xx response), ``4xx`` and ``timeout`` (the app's own per-call ``timeout`` expired);
    ``backoff`` is a constant pause between tries. At most 100 attempts: each is a whole call
    subtree, and more would only let one request fan out without bound.
    """

    attempts: int = Field(ge=0, le=100)
    retryOn: list[Literal["5xx", "4xx", "timeout"]] = Field(default_factory=lambda: ["5xx", "timeout"])  # type: ignore[arg-type]
    backoff: NonNegDuration = 0.0


class CallSpec(LooseModel):
    """The long form of ``call``. ``size`` (isotope's code) and ``payloadSize`` (its README) both set
    the request body size in bytes; ``probability`` is an integer percent (0 or unset = always)."""

    service: str = Field(min_length=1)
    size: ByteSize | None = None
    payloadSize: ByteSize | None = None
    hostname: str | None = None
    extra_header: dict[str, str] = Field(default_factory=dict, alias="extra-header")
    probability: int | None = Field(default=None, ge=0, le=100)
    # meshsim extensions
    timeout: NonNegDuration | None = None
    retries: AppRetry | None = None
    onError: Literal["fail", "ignore"] = "fail"
    path: str = "/"
    method: str = "GET"


class SleepCmd(StrictModel):
    sleep: Sleep


class CpuCmd(StrictModel):
    """``cpu: <duration or distribution>``: seconds of CPU time (meshsim extension)."""

    cpu: Sleep


class CallCmd(StrictModel):
    call: Annotated[str, Field(min_length=1)] | CallSpec


def _command_tag(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key in ("sleep", "call", "cpu"):
            return str(key)
    if isinstance(value, SleepCmd):
        return "sleep"
    if isinstance(value, CpuCmd):
        return "cpu"
    if isinstance(value, CallCmd):
        return "call"
    return None


Command = Annotated[
    Annotated[SleepCmd, Tag("sleep")] | Annotated[CallCmd, Tag("call")] | Annotated[CpuCmd, Tag("cpu")],
    Discriminator(
        _command_tag,
        custom_error_type="script_step",
        custom_error_message=(
            "a script command is a map with exactly one key, 'sleep', 'call' or 'cpu' "
            "(concurrent groups may not be nested)"
        ),
    ),
]


def _step_tag(value: Any) -> str:
    return "group" if isinstance(value, list | tuple) else "command"


Step = Annotated[
    Annotated[Command, Tag("command")] | Annotated[list[Command], Tag("group")],
    Discriminator(_step_tag),
]
"""A sequential command, or a list of commands run concurrently (one level only)."""


class _Behaviour(LooseModel):
    """Fields a service, a version and ``defaults`` can all set."""

    errorRate: Percentage | None = None
    errorStatus: int | None = Field(default=None, ge=100, le=599)
    errorMode: ErrorMode | None = None
    responseSize: ByteSize | None = None
    script: list[Step] | None = None
    concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)


class VersionDef(_Behaviour):
    """One version of a service (meshsim extension): replicas, pod labels and behaviour overrides."""

    replicas: Replicas | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class ServiceDef(_Behaviour):
    """One isotope service (a Kubernetes Service plus its Deployment(s))."""

    name: str = Field(min_length=1)
    namespace: str = ""
    cluster: str = ""
    type: Literal["http", "grpc"] | None = None
    numReplicas: Replicas | None = None
    isEntrypoint: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    # meshsim extensions
    versions: dict[str, VersionDef] | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    forwardHeaders: list[str] | None = None

    __unmodelled__ = frozenset({"cluster"})
    __unmodelled_why__: ClassVar[dict[str, str]] = {"cluster": "multi-cluster placement is not modelled; ignored"}


class Defaults(_Behaviour):
    """isotope ``defaults``: apply to every service (and call, for ``requestSize``) that leaves a field out."""

    type: Literal["http", "grpc"] | None = None
    requestSize: ByteSize | None = None
    numReplicas: Replicas | None = None


class MockServiceGraph(LooseModel):
    """isotope's topology document. ``apiVersion``/``kind`` are optional, as isotope ignores them."""

    apiVersion: str | None = None
    kind: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    services: list[ServiceDef] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _default_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "default" in data:
            data = dict(data)
            alias = data.pop("default")
            if "defaults" in data:
                raise ValueError("give either 'defaults' or its alias 'default', not both")
            data["defaults"] = alias
        return data

    @model_validator(mode="after")
    def _unique_names(self) -> MockServiceGraph:
        seen: set[str] = set()
        for svc in self.services:
            if svc.name in seen:
                raise ValueError(f"service {svc.name!r} is defined twice")
            seen.add(svc.name)
        return self
