"""The names `--backend` accepts: how vectors are computed (encoder) and where an index lives (store).

Encoder backends (torch, onnx, onnx-int8, openvino-int8, openvino-int8-streams, auto) and store backends
(embedded, qdrant, edge) share no name, so one repeatable option carries both (`--backend onnx-int8 --backend
qdrant`) and is split here.
"""

from __future__ import annotations

import os
from importlib.util import find_spec

from embedproof.errors import EmbedproofError, InvalidInputError

# "auto" resolves to one of the others per CPU by a cached on-machine calibration (models/auto_backend.py).
ENCODER_BACKENDS = ("torch", "onnx", "onnx-int8", "openvino-int8", "openvino-int8-streams", "auto")
STORE_BACKENDS = ("embedded", "qdrant", "edge")
# pins the encoder backend a command uses when `--backend` names none (CI and the reproductions pin torch)
BACKEND_ENV = "EMBEDPROOF_BACKEND"
FAST_RUNTIMES = ("onnxruntime", "openvino")  # the `fast` extra: what `auto` chooses among


def default_encoder_backend() -> str:
    """The encoder backend when `--backend` names none: $EMBEDPROOF_BACKEND if set; else `auto` when the fast extra
    is installed (the fastest backend on this CPU that keeps torch fp32's vectors, models/auto_backend.py; the
    choice is recorded in results.json and the index manifest); else torch."""
    value = os.environ.get(BACKEND_ENV, "").strip().lower()
    if value:
        if value not in ENCODER_BACKENDS:
            raise InvalidInputError(
                f"${BACKEND_ENV}: unknown encoder backend {value!r}; choose from {', '.join(ENCODER_BACKENDS)}"
            )
        return value
    return "auto" if any(find_spec(runtime) is not None for runtime in FAST_RUNTIMES) else "torch"


class UnsupportedBackendError(EmbedproofError):
    """An encoder family that runs only on torch was asked for another encoder backend (bench skips it)."""


def split_backends(values: list[str] | None, stores: bool = True) -> tuple[str, str]:
    """(encoder backend, store backend) from the values given; defaults `default_encoder_backend()` and embedded."""
    encoder, store = [], []
    for value in values or []:
        key = value.strip().lower()
        if key in ENCODER_BACKENDS:
            encoder.append(key)
        elif stores and key in STORE_BACKENDS:
            store.append(key)
        else:
            allowed = ENCODER_BACKENDS + (STORE_BACKENDS if stores else ())
            raise InvalidInputError(f"--backend: unknown value {value!r}; choose from {', '.join(allowed)}")
    if len(encoder) > 1 or len(store) > 1:
        raise InvalidInputError(f"--backend: give at most one encoder backend and one store backend, got {values}")
    return (encoder[0] if encoder else default_encoder_backend()), (store[0] if store else "embedded")
