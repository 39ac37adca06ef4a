"""meshsim: a discrete-event simulator and capacity planner for Istio/Envoy service meshes.

Pipeline (each arrow a pure function over typed objects)::

    load(paths) -> MeshConfig -> compile_model() -> MeshModel -> simulate() -> Summary -> reports
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
