"""The `--edge-*` options of `index build` and `bench`: one definition, so a bench measures what a build serves."""

from __future__ import annotations

from typing import Annotated

import typer

from embedproof.cli.common import in_range
from embedproof.errors import InvalidInputError

EdgeM = Annotated[int | None, typer.Option(min=0, help="--backend edge: HNSW m (default 16)")]
EdgeEfConstruct = Annotated[int | None, typer.Option(min=1, help="--backend edge: HNSW ef_construct (default 100)")]
EdgeEf = Annotated[int | None, typer.Option(min=1, help="--backend edge: hnsw_ef at query time (default 128)")]
EdgeQuantization = Annotated[
    str | None,
    typer.Option(help="--backend edge: int8, binary-1|1.5|2, turbo-1|1.5|2|4|8 (default: the recipe's precision)"),
]
EdgeOversampling = Annotated[
    float | None, typer.Option(help="--backend edge: candidates per result before rescoring (default 4)")
]
EdgeRescore = Annotated[
    bool | None,
    typer.Option("--edge-rescore/--edge-no-rescore", help="--backend edge: rescore quantised candidates with float32"),
]
EdgeExact = Annotated[bool, typer.Option(help="--backend edge: search every vector (no HNSW at query time)")]
EdgeVectorsOnDisk = Annotated[
    bool, typer.Option(help="--backend edge: float vectors on disk, quantised codes in memory")
]


NAMES = ("m", "ef_construct", "ef", "quantization", "oversampling", "rescore", "exact", "vectors_on_disk")


def edge_options(values: dict) -> dict:
    """The `--edge-*` values of a command (its parameters by name, e.g. `locals()`) as engine settings; None: not
    given, so the recipe's setting or the default holds."""
    from embedproof.search.engine import QUANTIZATIONS

    options = {name: values[f"edge_{name}"] for name in NAMES}
    in_range(options["oversampling"], "--edge-oversampling", low=1)
    if options["quantization"] is not None and options["quantization"] not in QUANTIZATIONS:
        raise InvalidInputError(
            f"--edge-quantization: unknown value {options['quantization']!r} (known: {', '.join(QUANTIZATIONS)})"
        )
    # flags default to off: only a flag that is on was given
    return options | {"exact": options["exact"] or None, "vectors_on_disk": options["vectors_on_disk"] or None}


def given(options: dict) -> bool:
    """Was any `--edge-*` option given?"""
    return any(value is not None for value in options.values())
