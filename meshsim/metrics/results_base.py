"""The building blocks of ``summary.json`` (:mod:`meshsim.metrics.results` re-exports them): the strict base
model, the model that omits its empty optional fields, and :class:`Estimate` / :class:`Latency`, a value with its
confidence interval."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

__all__ = ["Estimate", "Latency"]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Omitting(_M):
    """A model whose ``_omit_empty`` fields are left out of its JSON when empty or null: fields added for
    HorizontalPodAutoscalers, absent from the summaries of runs without one (which stay as they were)."""

    _omit_empty: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _without_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        if isinstance(out, dict):
            for k in self._omit_empty:
                if k in out and not out[k]:
                    del out[k]
        return out


class Estimate(_M):
    """A point estimate with its 95% confidence interval (``ci_low``/``ci_high`` may be null).

    ``ci_method`` names how the interval was built (``sectioning``: spread of per-replication or
    per-batch estimates around the pooled value; ``paired_sectioning``: the same over paired
    per-replication differences; ``wilson``: a binomial score interval); when the bounds are null,
    ``ci_reason`` says why (``too_few_samples``: a section holds fewer samples than the quantile
    needs, ``ci_needs`` is the total it would need; ``too_few_sections``; ``no_data``).
    """

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_method: str | None = None
    ci_reason: str | None = None
    ci_needs: int | None = Field(
        default=None, description="samples (requests) the interval would need when ci_reason is too_few_samples"
    )


class Latency(_M):
    """Latency in milliseconds: mean and percentiles, each with a CI."""

    mean: Estimate
    p50: Estimate
    p90: Estimate
    p99: Estimate
    p999: Estimate
