"""The one place batchforge relies on azure-batch internals, kept because planning big sweeps needs it.

azure-batch 15.x models are mutable mappings over their wire-form JSON; that much is public (``as_dict()``,
``Model(mapping)``, ``model["id"]``). But the public constructors look every key up in the class's field
table and convert every value, about 10 us per task: 20x the rest of planning one, a second per 100,000
tasks. :func:`model_from_wire` makes the same model from JSON that is already in wire form, relying on:

- ``Model.__new__`` computing the class's field table (what attribute access such as ``task.id`` reads)
  the first time a class is instantiated;
- a model holding its JSON in the instance attribute ``_data``.

Both moved between azure-batch releases before (``azure.batch._model_base`` became
``azure.batch._utils.model_base``); :func:`broken_assumptions` names whichever no longer holds, and the
adapter's tests run it, so an SDK upgrade that breaks this fails there first, not in a submission.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, TypeVar

from azure.batch import models as bm

ModelT = TypeVar("ModelT", bound=Mapping[str, Any])

_DATA_ATTRIBUTE = "_data"
_prepared: set[type] = set()
_prepared_lock = threading.Lock()


def model_from_wire(cls: type[ModelT], data: dict[str, Any]) -> ModelT:
    """A ``cls`` holding ``data``: wire (camelCase) keys, nested values already SDK models, nothing to convert.

    Equal to ``cls(data)`` (the public mapping constructor) for such data, without its per-key cost.
    """
    if cls not in _prepared:
        with _prepared_lock:
            cls.__new__(cls)
            _prepared.add(cls)
    model = object.__new__(cls)
    setattr(model, _DATA_ATTRIBUTE, data)
    return model


def broken_assumptions() -> list[str]:
    """What :func:`model_from_wire` relies on and the installed azure-batch no longer provides (empty: all fine)."""
    broken: list[str] = []
    public = bm.ResourceFile(http_url="https://example.invalid/a", file_path="a")
    stored = vars(public).get(_DATA_ATTRIBUTE)
    if not isinstance(stored, dict) or stored != public.as_dict():
        broken.append(
            f"azure.batch.models.ResourceFile instance attribute {_DATA_ATTRIBUTE!r} no longer holds the wire JSON"
        )
        return broken

    class _Fresh(bm.ResourceFile):
        """A class never instantiated before, as every SDK class is the first time it is used here."""

    try:
        fast = model_from_wire(_Fresh, {"httpUrl": "https://example.invalid/a", "filePath": "a"})
        readable = fast.http_url == "https://example.invalid/a" and fast.file_path == "a"
    except Exception as error:  # any failure here means the internals moved: report it by name
        broken.append(f"azure.batch Model.__new__ no longer prepares attribute access for a new class: {error!r}")
        return broken
    if not readable:
        broken.append("azure.batch Model.__new__ no longer prepares attribute access for a new class")
    elif json.dumps(fast.as_dict(), sort_keys=True) != json.dumps(public.as_dict(), sort_keys=True):
        broken.append("azure.batch.models.ResourceFile.as_dict() differs for a model built from its wire JSON")
    return broken
