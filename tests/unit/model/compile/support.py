"""Build a MeshConfig from YAML text (no files), for the compile builders' tests."""

from __future__ import annotations

import yaml

from meshsim.config.loader import MeshConfig, Source, validate_docs

CHAIN = """
apiVersion: isotope.mock/v1alpha1
kind: MockServiceGraph
defaults: {type: http, concurrency: 4}
services:
- name: front
  isEntrypoint: true
  script: [{call: back}]
- name: back
  versions:
    v1: {replicas: 2}
    v2: {replicas: 1}
"""


def config(*texts: str) -> MeshConfig:
    docs = []
    for i, t in enumerate(texts):
        for j, d in enumerate(yaml.safe_load_all(t)):
            if d:
                docs.append((Source(f"in-{i}.yaml", j + 1), d))
    return validate_docs(docs)
