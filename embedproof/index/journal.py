"""The change journal of the engine stores (edge, qdrant): what a change will do, written before the engine is touched.

An engine store changes its points in place (upsert the new rows' points, delete the retired rows'), so a change
killed half way leaves an engine that is neither the previous generation nor the next. Before touching the engine,
the store's change step writes one journal file (atomically: a kill leaves either no journal or a whole one) that
holds everything needed to finish the change without encoding anything again: the new points (id = row, their
vectors, their payload), the retired point ids, and the manifest the commit will write (its `retired_rows` still
the previous ones, as `commit_change` adds them). Finishing a change is then idempotent — upsert by id, delete by
id, commit the manifest — so `recover_journal` rolls a journal the manifest has not committed forward and commits
it, and drops a journal the manifest already committed (a kill after the commit, before the journal was deleted).

File: `change-journal.npz` in the index folder, an uncompressed numpy archive: "header" (UTF-8 JSON: the format,
the generation it commits, retired rows, point ids, payloads, each vector name's kind, the manifest data) and, per
vector name n, "n/rows" (which points hold it) with "n/dense" (a matrix), "n/indptr" + "n/indices" + "n/values"
(sparse rows) or "n/offsets" + "n/tokens" (token matrices stacked). Binary, so the journal of 1,000 384-dim points
is their 1.5 MB of float32, not several times that as text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedproof.files import atomic_open
from embedproof.index.manifest import Manifest, crash_point

JOURNAL = "change-journal.npz"
JOURNAL_FORMAT = 1

# (point id, {vector name: dense row | (indices, values) | token matrix}, payload): the engine-neutral point
Point = tuple[int, dict, dict]


@dataclass(frozen=True)
class Journal:
    """A change, whole: the generation it commits, the points to upsert, the rows to delete, the next manifest."""

    generation: int  # the generation the commit makes (the manifest's generation + 1)
    retired_rows: list[int]  # point ids to delete (this change's retired rows only)
    points: list[Point]  # points to upsert
    manifest: dict  # the manifest data before `commit_change` (new segment listed, store fields updated)

    def next_manifest(self, folder: Path) -> Manifest:
        return Manifest(folder, json.loads(json.dumps(self.manifest)))


def _kind(value) -> str:
    if isinstance(value, tuple):
        return "sparse"
    return "tokens" if np.ndim(value) == 2 else "dense"


def _pack(points: list[Point]) -> tuple[dict, dict[str, np.ndarray]]:
    """The points' vectors as a few arrays per vector name, and each name's kind."""
    kinds: dict[str, str] = {}
    held: dict[str, list[tuple[int, object]]] = {}
    for n, (_, vectors, _) in enumerate(points):
        for name, value in vectors.items():
            kinds.setdefault(name, _kind(value))
            held.setdefault(name, []).append((n, value))
    arrays: dict[str, np.ndarray] = {}
    for name, items in held.items():
        arrays[f"{name}/rows"] = np.array([n for n, _ in items], dtype=np.int64)
        values = [v for _, v in items]
        if kinds[name] == "dense":
            arrays[f"{name}/dense"] = np.asarray(np.stack([np.asarray(v, dtype=np.float32) for v in values]))
        elif kinds[name] == "sparse":
            arrays[f"{name}/indptr"] = np.cumsum([0] + [len(v[0]) for v in values]).astype(np.int64)
            arrays[f"{name}/indices"] = np.concatenate([np.asarray(v[0], dtype=np.int64) for v in values])
            arrays[f"{name}/values"] = np.concatenate([np.asarray(v[1], dtype=np.float64) for v in values])
        else:
            arrays[f"{name}/offsets"] = np.cumsum([0] + [len(v) for v in values]).astype(np.int64)
            arrays[f"{name}/tokens"] = np.concatenate([np.asarray(v, dtype=np.float32) for v in values])
    return kinds, arrays


def _unpack(kinds: dict, count: int, arrays) -> list[dict]:
    vectors: list[dict] = [{} for _ in range(count)]
    for name, kind in kinds.items():
        rows = arrays[f"{name}/rows"]
        if kind == "dense":
            for n, row in zip(rows, arrays[f"{name}/dense"]):
                vectors[n][name] = row
        elif kind == "sparse":
            indptr, indices, values = (arrays[f"{name}/{k}"] for k in ("indptr", "indices", "values"))
            for i, n in enumerate(rows):
                a, b = indptr[i], indptr[i + 1]
                vectors[n][name] = (indices[a:b].tolist(), values[a:b].tolist())
        else:
            offsets, tokens = arrays[f"{name}/offsets"], arrays[f"{name}/tokens"]
            for i, n in enumerate(rows):
                vectors[n][name] = tokens[offsets[i] : offsets[i + 1]]
    return vectors


def write_journal(manifest: Manifest, retired_rows: list[int], points: list[Point]) -> Path:
    """Write the journal of the change `manifest` is about to commit (see the module docstring); returns its path."""
    kinds, arrays = _pack(points)
    header = {
        "format": JOURNAL_FORMAT,
        "generation": manifest.generation + 1,
        "retired_rows": [int(r) for r in retired_rows],
        "ids": [int(p[0]) for p in points],
        "payloads": [p[2] for p in points],
        "kinds": kinds,
        "manifest": manifest.data,
    }
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), **arrays)
    payload = buffer.getvalue()
    path = manifest.folder / JOURNAL
    with atomic_open(path, "wb") as handle:
        handle.write(payload[: len(payload) // 2])
        crash_point("journal-written")  # a kill here leaves a temporary file: no journal, the engine untouched
        handle.write(payload[len(payload) // 2 :])
    crash_point("journal-saved")  # a kill here leaves a whole journal and an untouched engine: rolled forward
    return path


def read_journal(folder: Path) -> Journal | None:
    """The folder's journal, or None when there is none or it is not one this embedproof wrote whole."""
    path = folder / JOURNAL
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
        if header.get("format") != JOURNAL_FORMAT:
            return None
        vectors = _unpack(header["kinds"], len(header["ids"]), arrays)
        points = [(i, v, p) for i, v, p in zip(header["ids"], vectors, header["payloads"])]
        return Journal(int(header["generation"]), list(header["retired_rows"]), points, header["manifest"])
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def recover_journal(manifest: Manifest, finish: Callable[[Journal, Manifest], None]) -> bool:
    """Finish or drop what a killed change left in `manifest.folder` (the caller holds the writer lock).

    A journal whose generation the manifest already has was committed: it is deleted. A journal that commits the
    manifest's next generation is rolled forward: `finish(journal, next_manifest)` re-applies it to the engine
    (idempotent; it may record store fields in the next manifest), then the next manifest is committed and the
    journal deleted. Anything else (a stray temporary file, an unreadable or stale journal) is deleted. Returns
    True when a change was committed here.
    """
    from embedproof.index.change import commit_change

    folder = manifest.folder
    # temporary files of a killed writer (the caller holds the writer lock, so no live one): a journal killed while
    # written (the engine was not touched), a manifest or document segment killed while written
    for stray in folder.glob(".*.tmp"):
        stray.unlink(missing_ok=True)
    path = folder / JOURNAL
    if not path.exists():
        return False
    journal = read_journal(folder)
    committed = False
    if journal is not None and journal.generation == manifest.generation + 1:
        following = journal.next_manifest(folder)
        finish(journal, following)
        crash_point("change-commit")
        commit_change(following, _Retiring(journal.retired_rows))
        committed = True
    path.unlink(missing_ok=True)
    return committed


@dataclass(frozen=True)
class _Retiring:
    """What `commit_change` reads of a plan: the rows the change retires."""

    retired_rows: list[int]
