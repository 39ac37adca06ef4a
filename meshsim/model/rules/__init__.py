"""Envoy/Istio rules as pure functions over the compiled IR, shared by the simulator, the analytic model, xds/ and real/."""
