"""Smaller vectors: Matryoshka truncation, int8/binary/fp16 quantisation, their byte costs.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "truncate_matryoshka": "embedproof.vectors.matryoshka",
    "normalize": "embedproof.vectors.matryoshka",
    "Int8Calibration": "embedproof.vectors.quantize",
    "quantize_int8": "embedproof.vectors.quantize",
    "dequantize_int8": "embedproof.vectors.quantize",
    "quantize_binary": "embedproof.vectors.quantize",
    "bytes_per_vector": "embedproof.vectors.quantize",
}

__all__ = [
    "Int8Calibration",
    "bytes_per_vector",
    "dequantize_int8",
    "normalize",
    "quantize_binary",
    "quantize_int8",
    "truncate_matryoshka",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.vectors.matryoshka import normalize, truncate_matryoshka
    from embedproof.vectors.quantize import (
        Int8Calibration,
        bytes_per_vector,
        dequantize_int8,
        quantize_binary,
        quantize_int8,
    )
