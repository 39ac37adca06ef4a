"""Retry storms and metastable failures (issue #6): amplification accounting, metastability verdicts,
phase diagrams over trigger magnitude x duration, and mitigations side by side.

Modules: :mod:`~meshsim.storm.amplification` (static worst-case multiplier, measured amplification per
edge and depth), :mod:`~meshsim.storm.verdict` (stable / recovered / metastable per replication),
:mod:`~meshsim.storm.trigger` (which ``--set`` paths a trigger's magnitude and duration are),
:mod:`~meshsim.storm.phase` (the magnitude x duration x load sweep) and
:mod:`~meshsim.storm.mitigations` (named override sets compared on the same trigger).
"""
