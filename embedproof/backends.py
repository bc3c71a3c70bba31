"""The names `--backend` accepts: how vectors are computed (encoder) and where an index lives (store).

Encoder backends (torch, onnx, onnx-int8, openvino-int8, openvino-int8-streams, auto) and store backends
(embedded, qdrant, edge) share no name, so one repeatable option carries both (`--backend onnx-int8 --backend
qdrant`) and is split here.
"""

from __future__ import annotations

from embedproof.errors import EmbedproofError, InvalidInputError

# "auto" resolves to one of the others per CPU by a cached on-machine calibration (models/auto_backend.py).
ENCODER_BACKENDS = ("torch", "onnx", "onnx-int8", "openvino-int8", "openvino-int8-streams", "auto")
STORE_BACKENDS = ("embedded", "qdrant", "edge")


class UnsupportedBackendError(EmbedproofError):
    """An encoder family that runs only on torch was asked for another encoder backend (bench skips it)."""


def split_backends(values: list[str] | None, stores: bool = True) -> tuple[str, str]:
    """(encoder backend, store backend) from the values given; defaults torch and embedded."""
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
    return (encoder[0] if encoder else "torch"), (store[0] if store else "embedded")
