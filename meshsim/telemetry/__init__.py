"""Simulated telemetry in the formats real meshes emit: Istio's standard Prometheus metrics
(:mod:`meshsim.telemetry.prometheus`) and sampled request traces as Jaeger JSON
(:mod:`meshsim.telemetry.jaeger`). The engine records into :mod:`meshsim.telemetry.record` structures
(dict increments, fixed buckets) while it runs."""
