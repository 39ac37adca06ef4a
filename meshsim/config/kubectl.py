"""Normalise what ``kubectl get -o yaml|json`` prints into the documents a user would have written.

``kubectl get`` prints a single named object as itself and anything else as
``{apiVersion: v1, kind: List, metadata: {resourceVersion: ""}, items: [...]}``, each item keeping its
own ``apiVersion``/``kind`` (``k8s.io/kubectl`` ``pkg/cmd/get/get.go``, ``RunGet``). Server-side
fields are added to every object (``k8s.io/apimachinery`` ``pkg/apis/meta/v1/types.go``
``ObjectMeta``): ``status``, ``metadata.managedFields`` (only with ``--show-managed-fields`` since
kubectl 1.21, ``k8s.io/cli-runtime`` ``pkg/printers/managedfields.go``), ``resourceVersion``, ``uid``,
``generation``, ``creationTimestamp``, ``selfLink`` and the client-side apply annotation
``kubectl.kubernetes.io/last-applied-configuration`` (``k8s.io/api``
``core/v1/annotation_key_constants.go`` ``LastAppliedConfigAnnotation``). None of them is part of
the desired state, so :func:`normalise` drops them (except a ``Node``'s ``status``, which holds its
``capacity``); everything else is kept exactly.

The input mapping is never modified: a new one is returned.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SERVER_METADATA", "LAST_APPLIED", "is_list", "normalise", "normalise_all"]

SERVER_METADATA = frozenset({"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"})
"""``metadata`` keys set by the API server, never by the user."""

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""The annotation client-side ``kubectl apply`` writes (a JSON copy of the applied manifest)."""


def is_list(doc: dict[str, Any]) -> bool:
    """True for kubectl's ``kind: List`` (``v1``) and server list kinds (``DeploymentList``, ...)
    that carry ``items``."""
    kind = doc.get("kind")
    return (
        isinstance(kind, str)
        and kind.endswith("List")
        and isinstance(doc.get("apiVersion"), str)
        and isinstance(doc.get("items"), list)
    )


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    if "apiVersion" not in doc or "kind" not in doc:
        return doc  # an isotope MockServiceGraph or something else that is no Kubernetes object
    # a Node's capacity is in its status (``status.capacity.cpu``): the one status meshsim reads
    out = {k: v for k, v in doc.items() if k != "status" or doc.get("kind") == "Node"}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in SERVER_METADATA}
        ann = meta.get("annotations")
        if isinstance(ann, dict) and LAST_APPLIED in ann:
            ann = {k: v for k, v in ann.items() if k != LAST_APPLIED}
            if ann:
                meta["annotations"] = ann
            else:
                del meta["annotations"]
        out["metadata"] = meta
    return out


def normalise(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One document as the list of objects it holds: a ``List`` is unwrapped (recursively), every
    object loses ``status`` and the server-set metadata. Items that are not mappings are returned
    as they are, for the loader to reject with its own message."""
    if is_list(doc):
        out: list[dict[str, Any]] = []
        for item in doc["items"]:
            out.extend(normalise(item) if isinstance(item, dict) else [item])
        return out
    return [_clean(doc)]


def normalise_all(docs: list[Any]) -> list[Any]:
    """:func:`normalise` over a file's documents; ``None`` (empty documents) and non-mappings pass through."""
    out: list[Any] = []
    for d in docs:
        out.extend(normalise(d) if isinstance(d, dict) else [d])
    return out
