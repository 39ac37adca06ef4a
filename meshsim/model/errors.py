"""The model layer's error: a config that validates but cannot be resolved."""

from __future__ import annotations

from meshsim.errors import ConfigError

__all__ = ["CompileError"]


class CompileError(ConfigError):
    """The config is valid YAML and schema but cannot be resolved (unknown host, subset, ...)."""
