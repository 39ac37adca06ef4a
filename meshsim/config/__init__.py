"""Config layer: what the user wrote, as validated pydantic models (no defaults resolved yet)."""

from meshsim.config.loader import Doc, MeshConfig, Source, apply_override, load, load_documents

__all__ = ["Doc", "MeshConfig", "Source", "apply_override", "load", "load_documents"]
