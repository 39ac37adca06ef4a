"""Judging results: retry amplification (:mod:`.amplification`), metastability verdicts
(:mod:`.verdict`) and SLO evaluation (:mod:`.slo`).

Below experiments/, planning/, storm/, report/ and real/ (all of which judge runs) and above the
simulator, xds/, telemetry/, metrics/ and the model (which produce what is judged).
"""
