"""`embedproof index build|info` and `embedproof search`: the persistent index of a recipe, from the command line."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from embedproof.cli import combinations
from embedproof.cli import edge_options as edge
from embedproof.cli.common import DropCode, build_recipes, console, err, non_empty, writable_folder
from embedproof.cli.progress import progress_factory
from embedproof.errors import InvalidInputError

index_app = typer.Typer(help="Build and inspect a persistent index of a recipe.", no_args_is_help=True)


@contextmanager
def _resumable(folder: Path):
    """Ctrl-C during a build: the committed chunks stay, and the same command resumes from them (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        err.print(
            f"[bold yellow]interrupted:[/] the chunks committed so far are kept in {folder} "
            "(the index refuses to load until it is finished); run the same command again to resume from them.",
            highlight=False,
        )
        raise typer.Exit(130) from None


@index_app.command("build")
def index_build(
    corpus: Annotated[
        str, typer.Option("--corpus", help="BEIR folder, .jsonl corpus, folder of .txt/.md/.html files or 'demo'")
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            metavar="PATH",
            help="index folder: new or empty (an interrupted build of the same recipe there resumes)",
        ),
    ],
    mode: Annotated[
        str | None, typer.Option(help="a standard recipe: dense, sparse, multivector, hybrid, hybrid+rerank")
    ] = None,
    recipe: Annotated[Path | None, typer.Option(help="a recipe file (.json/.yaml)")] = None,
    results: Annotated[
        Path | None, typer.Option(help="a bench's results.json: build the run named by --run, as it was measured")
    ] = None,
    run: Annotated[
        str | None, typer.Option(help="with --results: the run to build (its name as tables show it)")
    ] = None,
    drop_code: DropCode = False,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="models for --mode (dense and sparse)")
    ] = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="documents per committed chunk")] = 512,
    backend: Annotated[
        list[str] | None,
        typer.Option(
            "--backend",
            help=(
                "encoder (torch, onnx, onnx-int8, openvino-int8, openvino-int8-streams, auto) "
                "and/or store (embedded, qdrant, edge); repeatable"
            ),
        ),
    ] = None,
    qdrant_url: Annotated[str | None, typer.Option(help="--backend qdrant: a Qdrant server or cluster URL")] = None,
    qdrant_path: Annotated[
        Path | None, typer.Option(help="--backend qdrant: qdrant-client local mode in this folder")
    ] = None,
    qdrant_collection: Annotated[
        str | None, typer.Option(help="--backend qdrant: collection name (default: from --out, recipe and corpus)")
    ] = None,
    qdrant_shards: Annotated[
        int,
        typer.Option(
            min=1, help="--backend qdrant: shard_number of a new collection (a cluster spreads shards over nodes)"
        ),
    ] = 1,
    qdrant_replicas: Annotated[
        int, typer.Option(min=1, help="--backend qdrant: replication_factor of a new collection")
    ] = 1,
    ray: Annotated[
        str | None, typer.Option("--ray", help="encode with a Ray actor pool: 'local' or a cluster address")
    ] = None,
    edge_m: edge.EdgeM = None,
    edge_ef_construct: edge.EdgeEfConstruct = None,
    edge_ef: edge.EdgeEf = None,
    edge_quantization: edge.EdgeQuantization = None,
    edge_oversampling: edge.EdgeOversampling = None,
    edge_rescore: edge.EdgeRescore = None,
    edge_exact: edge.EdgeExact = False,
    edge_vectors_on_disk: edge.EdgeVectorsOnDisk = False,
) -> None:
    """Encode the corpus for a recipe into an on-disk index, in atomic chunks (a killed build resumes)."""
    from embedproof.backends import STORE_BACKENDS, split_backends
    from embedproof.datasets.loading import load_dataset
    from embedproof.index.access import build_index
    from embedproof.index.build import check_build_folder
    from embedproof.index.supports import store_for

    for value, option in (
        (corpus, "--corpus"),
        (out, "--out"),  # an empty path would build into the current folder
        (qdrant_url, "--qdrant-url"),
        (qdrant_collection, "--qdrant-collection"),
        (ray, "--ray"),
        *((name, "--model") for name in model or []),
    ):
        non_empty(value, option)
    engine_options = edge.edge_options(locals())
    out = Path(out)
    writable_folder(out, "--out")
    check_build_folder(out)  # before any long work; build_index checks again under the folder's lock
    encoder_backend, store_backend = split_backends(backend)
    store_options = {
        "url": qdrant_url,
        "path": str(qdrant_path) if qdrant_path else None,
        "collection": qdrant_collection,
        "shards": qdrant_shards,
        "replicas": qdrant_replicas,
    }
    if (results is None) != (run is None):
        raise InvalidInputError("--results and --run go together: the results file and the name of its run to build")
    if results is not None:
        if mode or recipe:
            raise InvalidInputError("index build needs exactly one of --mode, --recipe or --results/--run")
        recipes, measured_backend = _measured_recipe(results, run)
        if not any(value.strip().lower() not in STORE_BACKENDS for value in backend or []):
            encoder_backend = measured_backend  # the backend it was measured with, unless one is named
    else:
        recipes = build_recipes([mode] if mode else None, [recipe] if recipe else None, model, None, 50)
    if not recipes or len(recipes) != 1:
        raise InvalidInputError("index build needs exactly one of --mode, --recipe or --results/--run")
    combinations.index_build(locals())  # options that would do nothing here are refused
    named = any(value.strip().lower() in STORE_BACKENDS for value in backend or [])
    store_backend = store_for(recipes[0], store_backend if named else None)
    if store_backend == "edge":
        store_options = engine_options
    elif edge.given(engine_options):
        raise InvalidInputError(f"--edge-* options apply to --backend edge, not the {store_backend} store")
    if store_backend != "qdrant":
        for value, option in (
            (qdrant_url, "--qdrant-url"),
            (qdrant_path, "--qdrant-path"),
            (qdrant_collection, "--qdrant-collection"),
        ):
            if value is not None:
                raise InvalidInputError(f"{option} applies to --backend qdrant, not the {store_backend} store")
    data = load_dataset(corpus, drop_code=drop_code)  # a bad corpus is refused before any note or export
    if encoder_backend == "auto" and not any(v.strip().lower() == "auto" for v in backend or []):
        from embedproof.cli.notes import auto_backend_note

        auto_backend_note(recipes[0].models(), err, "recorded in the manifest")
    auto = None
    if encoder_backend == "auto":  # the index records the backend it resolved to: queries must match it
        from embedproof.models.factory import resolve_for_models

        with progress_factory(err):  # a first run exports and calibrates: its progress shows
            encoder_backend, auto = resolve_for_models(recipes[0].first_pass_models())
    _warn_truncation(recipes[0], data, encoder_backend)
    with progress_factory(err) as progress, _resumable(out):
        manifest = build_index(
            recipes[0],
            data.corpus,
            out,
            chunk_size=chunk_size,
            progress=progress,
            encoder_backend=encoder_backend,
            store_backend=store_backend,
            store_options=store_options,
            ray_address=ray,
        )
    if auto is not None:
        manifest["auto_backend"] = auto
        manifest.save()
    console.print(
        f"built {out}: {manifest['documents']:,} documents, recipe {manifest['recipe']['name']!r}, "
        f"{len(manifest['files'])} files",
        highlight=False,
    )
    if store_backend == "embedded":
        from embedproof.pick.store_advice import store_advice

        advice = store_advice(manifest["documents"])
        if advice.store != "embedded":  # stated, never switched silently
            err.print(f"note: {advice.reason}", highlight=False, markup=False)


def _measured_recipe(results: Path, name: str) -> tuple[list, str]:
    """The recipe of the run named `name` in a results file, and the encoder backend it was measured with."""
    from embedproof.evaluation.results_file import find_run, load_results
    from embedproof.search.recipe import Recipe

    non_empty(name, "--run")
    run = find_run(load_results(results), name)
    if run.get("recipe") is None:
        raise InvalidInputError(f"--run: {name!r} records no recipe (a file from an early release); bench it again")
    return [Recipe(**run["recipe"])], run.get("encoder_backend", "torch")


def _warn_truncation(recipe, data, encoder_backend: str) -> None:
    """Say, as bench does, when the model's window cuts the texts the index encodes."""
    from embedproof.evaluation.truncation import recipe_truncation_warnings
    from embedproof.index.manifest import encoder_options_for
    from embedproof.search.pipeline import Workspace

    ids = list(data.corpus)
    workspace = Workspace(ids, [data.corpus[d].full_text for d in ids], encoder_options_for(encoder_backend))
    for warning in recipe_truncation_warnings(recipe, workspace):
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


@contextmanager
def _one_generation(folder: Path):
    """Ctrl-C during a change: the index holds the generation before it or, if the commit was reached, after it;
    the same command finishes it (a retry of a finished change has nothing to do) (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        err.print(
            f"[bold yellow]interrupted:[/] {folder} holds the index as it was before this change, or, if the "
            "change had committed, as after it (never a part of it); run the same command again to finish it.",
            highlight=False,
        )
        raise typer.Exit(130) from None


def _change(folder: Path, upserts: dict, removes: list[str], replace: bool, source: str) -> None:
    """The one way the command line changes an index (`add`, `add --replace`, `remove`): one committed generation,
    its summary printed; a change with nothing to do (a retry) succeeds and commits nothing.

    An embedded index is changed here and a running `serve` follows the new generation. An engine-backed index
    (edge, Qdrant) changes in place, so while a server holds it the change goes to that server (`server.owner`),
    which applies it between searches: no search sees half of it, and one-opener engines stay with one opener."""
    from embedproof.index.change import apply_change
    from embedproof.index.manifest import Manifest
    from embedproof.server.owner import forward_change

    manifest = Manifest.read(folder) if folder.is_dir() else None
    if manifest is not None and manifest.backend != "embedded":
        # the engine changes in place and allows one opener: a server holding it applies the change itself
        result = forward_change(folder, upserts, removes, replace, source)
        if result is not None:
            console.print(
                f"{result.summary()} (applied by the server serving it)", highlight=False, markup=False, soft_wrap=True
            )
            return
    with progress_factory(err) as progress, _one_generation(folder):
        result = apply_change(folder, upserts, removes, replace, source, progress=progress)
    console.print(result.summary(), highlight=False, markup=False, soft_wrap=True)


@index_app.command("add")
def index_add(
    folder: Annotated[Path, typer.Argument(help="a finished index folder")],
    corpus: Annotated[
        str,
        typer.Option(
            "--corpus",
            help="the new documents: .jsonl corpus, BEIR folder or folder of .txt/.md/.html files",
        ),
    ],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="replace the documents whose id is in the index with a different text (their old rows are retired)",
        ),
    ] = False,
    drop_code: DropCode = False,
) -> None:
    """Add documents as the next generation; only the new ones are encoded. An id already in the index with the same \
title and text needs nothing (a retried add exits 0); one with a different text is refused unless --replace. BM25 \
(if in the recipe) is refitted over the live documents, so its scores all change; a running `serve` picks up the \
new generation."""
    from embedproof.datasets.loading import load_dataset

    non_empty(corpus, "--corpus")
    data = load_dataset(corpus, drop_code=drop_code)
    _change(folder, data.corpus, [], replace, corpus)


@index_app.command("remove")
def index_remove(
    folder: Annotated[Path, typer.Argument(help="a finished index folder")],
    ids: Annotated[list[str] | None, typer.Argument(help="ids of the documents to remove", show_default=False)] = None,
    ids_file: Annotated[
        Path | None,
        typer.Option("--ids-file", help="a file of ids to remove, one per line (blank lines are ignored)"),
    ] = None,
) -> None:
    """Remove documents by id as the next generation; an id not in the index is reported, so a retried remove exits \
0. Their rows stay on disk, retired (never searched). BM25 (if in the recipe) is refitted over the live documents, \
so its scores all change; a running `serve` picks up the new generation."""
    removes = list(ids or [])
    for doc_id in removes:
        if not doc_id.strip():
            raise InvalidInputError("ID: empty; give the id of a document to remove")
    if ids_file is not None:
        removes += _read_ids(ids_file)
    elif not removes:
        raise InvalidInputError("index remove: give the ids of the documents to remove (ID ... or --ids-file)")
    source = f"{ids_file}" if ids_file is not None else "the ids to remove"
    _change(folder, {}, removes, False, source)


def _read_ids(path: Path) -> list[str]:
    """The ids of an --ids-file: one per line, surrounding spaces dropped, blank lines ignored."""
    from embedproof.errors import DatasetError

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"--ids-file: cannot read {path}: {exc.strerror or exc}") from None
    ids = []
    for number, line in enumerate(raw.splitlines(), 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise DatasetError("not valid UTF-8", path, line=number) from None
        if text.strip():
            ids.append(text.strip())
    return ids


@index_app.command("info")
def index_info(
    folder: Annotated[Path, typer.Argument(help="index folder")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """What an index holds (verifies every checksum; loads no model)."""
    from embedproof.index.access import index_info as read_info

    info = read_info(folder)
    if json_out:
        typer.echo(json.dumps(info, indent=2))
        return
    recipe = info["recipe"]
    console.print(
        f"[bold]{info['folder']}[/]: recipe {recipe['name']!r} ({' + '.join(recipe['first_pass'])}"
        + (f" → {recipe['rerank']}" if recipe.get("rerank") else "")
        + f"), {info['documents']:,} documents, generation {info['generation']}"
        + (f" ({info['retired_rows']:,} retired rows on disk)" if info.get("retired_rows") else "")
        + f", {info['bytes_on_disk'] / 2**20:,.1f} MiB on disk, checksums verified",
        highlight=False,
    )
    if info.get("store"):
        store = info["store"]
        console.print(
            "store: " + ", ".join(f"{k} {v}" for k, v in store.items() if not isinstance(v, (dict, list))),
            highlight=False,
        )
        if store.get("engine"):
            from embedproof.cli.tables import engine_setting

            live = store.get("live") or {}
            console.print(
                f"engine: {engine_setting(store['engine'])}"
                + (
                    f"; shard: {live['points']:,} points in {live['segments']} segment(s), "
                    f"{live['indexed_vectors']:,} vectors indexed (HNSW graphs and sparse postings)"
                    if live
                    else ""
                ),
                highlight=False,
            )
    table = Table(title="components")
    for column in ("component", "model", "kind", "mode", "dim / precision", "chunks", "revision"):
        table.add_column(column)
    for key, c in info["components"].items():
        shape = " / ".join(str(x) for x in (c.get("dim"), c.get("precision")) if x is not None) or "-"
        table.add_row(
            key,
            c.get("model", "-"),
            c.get("kind", "-"),
            c.get("mode", "-"),
            shape,
            str(c.get("chunks", "-")),
            str(c.get("revision", "-")),
        )
    console.print(table)
