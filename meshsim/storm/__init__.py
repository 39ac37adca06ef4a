"""Retry storms and metastable failures: phase diagrams over trigger magnitude x duration, and
mitigations side by side.

Modules: :mod:`~meshsim.storm.trigger` (which ``--set`` paths a trigger's magnitude and duration are),
:mod:`~meshsim.storm.phase` (the magnitude x duration x load sweep) and
:mod:`~meshsim.storm.mitigations` (named override sets compared on the same trigger). The accounting
they judge with lives below them: :mod:`meshsim.analysis.amplification` (static worst-case
multiplier, measured amplification per edge and depth) and :mod:`meshsim.analysis.verdict` (stable /
recovered / metastable per replication).
"""
