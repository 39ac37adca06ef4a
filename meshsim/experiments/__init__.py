"""Experiments over the simulator: replications (and, later, sweeps)."""
