"""Build a meshsim topology from what a cluster and its telemetry already know.

- :mod:`meshsim.importers.traces`: stream Jaeger JSON, Zipkin v2 JSON and OTLP/JSON spans;
- :mod:`meshsim.importers.graph`: infer the call graph, call probabilities, concurrency, app-level
  retries, error rates, replicas and self times from them;
- :mod:`meshsim.importers.fit`: fit self times (lognormal, gamma, empirical) with a goodness-of-fit score;
- :mod:`meshsim.importers.prometheus`: Istio's standard metrics (text exposition or query-API JSON);
- :mod:`meshsim.importers.k8s`: a topology skeleton from Deployments and Services;
- :mod:`meshsim.importers.emit`: write a MockServiceGraph, a LoadProfile and the observed routing.

Errors are :class:`~meshsim.errors.ConfigError` (one line naming the file and what is missing).
"""
