"""The shape of a search answer and of `index info`, the same for every store (the server and the page read them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from embedproof.files import disk_bytes
from embedproof.index.manifest import Manifest
from embedproof.types import Document

SNIPPET_CHARS = 300  # of each result's text in an answer; the full text stays in docs.jsonl


def search_answer(
    query: str,
    recipe_name: str,
    docs: Mapping[str, Document],
    scores: Mapping[str, float],
    top_k: int,
    stage_scores: Callable[[str], dict[str, float | None]],
    timings_ms: dict[str, float],
    store: dict | None = None,
    best_chunk: Callable[[str], dict | None] | None = None,
) -> dict:
    """Ranked results (best first, ties by id), each with its per-stage scores, plus where the time went.

    For a chunked recipe, `best_chunk(doc)` gives each result's best chunk: its score and its span (start and end
    character) and text in the document's full text (title and text), as the bench scored it.
    """
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top_k]
    answer = {"query": query, "recipe": recipe_name}
    if store is not None:
        answer["store"] = store
    answer["results"] = [
        {
            "rank": rank,
            "id": doc,
            "title": docs[doc].title,
            "text": docs[doc].text[:SNIPPET_CHARS],
            "score": score,
            "stage_scores": stage_scores(doc),
            **({"chunk": chunk} if best_chunk is not None and (chunk := best_chunk(doc)) is not None else {}),
        }
        for rank, (doc, score) in enumerate(ranked, 1)
    ]
    answer["timings_ms"] = dict(timings_ms)
    return answer


def describe_index(manifest: Manifest, store: dict | None = None, engine_folder: Path | None = None) -> dict:
    """What an index holds, from its manifest; an engine-backed store adds its settings and its engine's files."""
    m = manifest
    on_disk = sum((m.folder / rel).stat().st_size for rel in m.files)
    if engine_folder is not None and engine_folder.is_dir():
        on_disk += disk_bytes(engine_folder)
    info = {
        "folder": str(m.folder),
        "recipe": m["recipe"],
        "documents": m["documents"],  # the live documents of this generation
        "generation": m.generation,
        "retired_rows": len(m.retired_rows),  # rows on disk no longer served (removed or replaced documents)
        "complete": m["complete"],
    }
    if store is not None:
        info["store"] = store
    info["components"] = {
        key: {k: v for k, v in c.items() if k != "chunks"} | {"chunks": len(c["chunks"])}
        for key, c in m.components.items()
    }
    info["bytes_on_disk"] = on_disk
    return info
