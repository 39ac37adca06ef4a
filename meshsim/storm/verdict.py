"""The metastability verdicts moved to :mod:`meshsim.analysis.verdict` (below experiments/, planning/,
storm/, report/ and real/, which all use them); this name stays for existing imports."""

from meshsim.analysis.verdict import VERDICTS, Trigger, VerdictParams, classify, storm_result, trigger_of

__all__ = ["VERDICTS", "Trigger", "VerdictParams", "classify", "storm_result", "trigger_of"]
