"""The embedded persistent index: what a recipe needs on disk, built in atomic chunks that resume after a crash.

Layout of an index folder:
  manifest.json           recipe, model revisions, counts, every file's sha256, and `complete`
  docs.jsonl              ids, titles and texts (the cross-encoder reranker and search results need them);
                          documents appended later go to docs-NNNNN.jsonl segments (manifest "docs" lists them)
  <model>/dense-NNNNN.npy  float32 vectors, one file per chunk of documents
  <model>/sparse-NNNNN.npz SPLADE rows (CSR arrays), one file per chunk
  <model>/tokens-NNNNN.npz token matrices for a MaxSim reranker (float16, with lengths)
Each chunk is written to a temporary name and renamed, then recorded in the manifest (itself replaced
atomically), so a killed build leaves only finished chunks and `build_index` resumes after the last one. BM25 is
not stored: its IDF is a whole-corpus statistic, so it is refitted from the documents when the index loads (about a
second for 5,000 documents); appending documents therefore changes every BM25 score, and only BM25's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import scipy.sparse as sp

from embedproof.files import atomic_open
from embedproof.types import Embeddings
from embedproof.errors import EmbedproofError
from embedproof.types import Document
from embedproof.files import safe_name
from embedproof.search.recipe import Recipe

FORMAT = 1
MANIFEST = "manifest.json"
KILL_ENV = "EMBEDPROOF_TEST_KILL_AT"
# the files an index folder may hold besides the manifest: anything else is left alone by the clean-up
_OURS = re.compile(r"(docs(-\d{5})?\.jsonl|(dense|sparse|tokens|float16|binary|int8)-\d{5}\.(npy|npz)|int8-calibration\.npz)")

# (chunk number, texts, ids) for each chunk still to encode → yields (chunk number, bytes of the chunk file), any order
ChunkJob = tuple[int, list[str], list[str]]
EncodeChunks = Callable[[str, str, list[ChunkJob]], Iterable[tuple[int, bytes]]]

_events: Counter = Counter()


def crash_point(event: str) -> None:
    """Test hook: SIGKILL this process at the n-th `event` when $EMBEDPROOF_TEST_KILL_AT is "event:n"; else nothing.

    It lets tests kill a build reproducibly inside the crash windows that matter (a chunk's temporary file half
    written; renamed but not yet in the manifest; the manifest itself half written), which a timer rarely hits.
    """
    spec = os.environ.get(KILL_ENV)
    if not spec or spec.rpartition(":")[0] != event:
        return
    _events[event] += 1
    if _events[event] == int(spec.rpartition(":")[2]):
        os.kill(os.getpid(), signal.SIGKILL)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ids_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _components(recipe: Recipe) -> list[tuple[str, str]]:
    """(model, what to store) for every part of the recipe that needs document-side data."""
    parts = []
    for model in recipe.first_pass:
        if model.startswith("maxsim:"):
            parts.append((model.split(":", 1)[1], "tokens"))
        else:
            parts.append((model, "first"))
    if recipe.reranker and recipe.reranker[0] == "maxsim":
        parts.append((recipe.reranker[1], "tokens"))
    return list(dict.fromkeys(parts))


def chunk_bytes(emb: Embeddings, kind: str) -> bytes:
    """The bytes of one chunk file (.npy dense, .npz sparse or tokens): the same for every encoding path (Ray included)."""
    buffer = io.BytesIO()
    if kind == "tokens":
        np.savez(buffer, lengths=np.array([len(m) for m in emb.multivector]), tokens=np.concatenate(emb.multivector).astype(np.float16))
    elif emb.mode == "dense":
        np.save(buffer, np.asarray(emb.dense, dtype=np.float32), allow_pickle=False)
    else:
        m = sp.csr_matrix(emb.sparse, dtype=np.float32)
        np.savez(buffer, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape))
    return buffer.getvalue()


def chunk_path(model: str, kind: str, mode: str | None, number: int) -> str:
    prefix = "tokens" if kind == "tokens" else ("dense" if mode == "dense" else "sparse")
    return f"{safe_name(model)}/{prefix}-{number:05d}.{'npy' if prefix == 'dense' else 'npz'}"


def chunk_number(rel: str) -> int:
    return int(rel.rsplit("-", 1)[1].split(".")[0])


def commit_file(out: Path, manifest: dict, rel: str, payload: bytes, event: str = "chunk") -> None:
    """Write `payload` to out/rel atomically, then record its sha256 in the manifest (the caller saves the manifest)."""
    with atomic_open(out / rel, "wb") as handle:
        handle.write(payload[: len(payload) // 2])
        crash_point(f"{event}-written")  # a kill here leaves a half-written temporary file, never a half file
        handle.write(payload[len(payload) // 2 :])
    crash_point(f"{event}-renamed")  # a kill here leaves a complete file the manifest does not know
    manifest["files"][rel] = hashlib.sha256(payload).hexdigest()


def save_manifest(path: Path, manifest: dict) -> None:
    """Replace the manifest atomically: a reader (or a resumed build) sees the previous one or this one, whole."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text[: len(text) // 2])
        crash_point("manifest-written")  # a kill here leaves the previous manifest and a stray temporary file
        handle.write(text[len(text) // 2 :])
    crash_point("manifest-saved")


def write_docs(out: Path, manifest: dict, rel: str, docs: Iterable[Document]) -> None:
    lines = "".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text}, ensure_ascii=False) + "\n" for d in docs)
    commit_file(out, manifest, rel, lines.encode("utf-8"), "docs")
    manifest.setdefault("docs", []).append(rel)


@contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """One writer per index folder: a second build/add fails at once instead of racing (released even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, one writer is the user's business
        yield
        return
    fd = os.open(out / ".lock", os.O_CREAT | os.O_RDWR, 0o644)  # an empty marker: only the lock on it matters
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise EmbedproofError(f"{out}: another `embedproof index build`/`add` is writing this index") from exc
        yield
    finally:
        os.close(fd)


def remove_uncommitted(out: Path, manifest: dict | None) -> list[str]:
    """Delete what a killed writer left: temporary files, and index files the manifest does not list."""
    known = set((manifest or {}).get("files", {}))
    removed = []
    for path in [*out.glob(".*.tmp"), *out.glob("*/.*.tmp"), *out.glob("docs*.jsonl"), *out.glob("*/*-?????.np?"), *out.glob("*/int8-calibration.npz")]:
        rel = path.relative_to(out).as_posix()
        if rel not in known and (path.name.endswith(".tmp") or _OURS.fullmatch(path.name)):
            path.unlink(missing_ok=True)
            removed.append(rel)
    return removed


def sequential_chunks(workspace) -> EncodeChunks:
    """The default: encode the pending chunks one after another in this process."""
    def encode(model: str, kind: str, jobs: list[ChunkJob]) -> Iterator[tuple[int, bytes]]:
        encoder = workspace.encoder(model, kind)
        for number, texts, ids in jobs:
            yield number, chunk_bytes(encoder.encode_documents(texts, ids), kind)
    return encode


def encoder_options_for(backend: str):
    """Encoder options for every model of an index: the encoder backend it was built with (queries must match)."""
    return (lambda model: {}) if backend == "torch" else (lambda model: {"backend": backend})


def encode_component(out: Path, manifest: dict, manifest_path: Path, workspace, model: str, kind: str, texts: list[str], ids: list[str],
                     first_number: int, chunk_size: int, encode_chunks: EncodeChunks, progress=None, save_each: bool = True,
                     shrink: tuple[int | None, str] | None = None) -> None:
    """Encode the not-yet-committed chunks of one component and commit each as it arrives (in any order).

    `save_each=False` (appending) leaves the manifest to the caller, so the whole add commits in one rename.
    `shrink` (the recipe's dim, precision) stores a dense first pass in that form (see embedproof/index/shrunk.py).
    """
    from embedproof.index.shrunk import chunk_prefix, shrink_payload

    encoder = workspace.encoder(model, kind)
    component = manifest["components"].setdefault(f"{kind}:{model}", {
        "model": model, "kind": kind, "revision": getattr(getattr(encoder, "resolved", None), "revision", None),
        "mode": getattr(encoder, "mode", None), "chunks": []})
    if kind == "first" and getattr(encoder, "name", "") == "bm25":
        component["stored"] = "refitted from the documents at load (global IDF)"
        return
    shrink = shrink if kind == "first" and component["mode"] == "dense" else None
    if shrink is not None:
        component["precision"] = shrink[1]
    (out / safe_name(model)).mkdir(exist_ok=True)
    advance = progress(f"{model} ({kind})", len(ids)) if progress else None
    jobs, sizes, rels = [], {}, {}
    for offset, start in enumerate(range(0, len(ids), chunk_size)):
        number = first_number + offset
        rels[number] = chunk_path(model, kind, component["mode"], number)
        if shrink is not None:
            rels[number] = rels[number].replace("/dense-", f"/{chunk_prefix(shrink[1], converted=False)}-")
        sizes[number] = min(chunk_size, len(ids) - start)
        # committed by an earlier (possibly interrupted) build; an int8 chunk already converted counts too
        if rels[number] in manifest["files"] or (shrink and rels[number].replace("/dense-", "/int8-") in manifest["files"]):
            if advance:
                advance(sizes[number])
            continue
        jobs.append((number, texts[start : start + chunk_size], ids[start : start + chunk_size]))
    for number, payload in encode_chunks(model, kind, jobs):
        if shrink is not None:
            component.setdefault("dim", shrink[0] or int(np.load(io.BytesIO(payload), allow_pickle=False).shape[1]))
            payload = shrink_payload(payload, *shrink)
        commit_file(out, manifest, rels[number], payload)
        component["chunks"] = sorted({*component["chunks"], rels[number]}, key=chunk_number)
        if save_each:
            save_manifest(manifest_path, manifest)
        if advance:
            advance(sizes[number])
    missing = [rel for rel in rels.values() if rel not in manifest["files"] and rel.replace("/dense-", "/int8-") not in manifest["files"]]
    if missing:
        raise EmbedproofError(f"{out}: chunk encoder returned no {missing[0]} ({len(missing)} chunk(s) missing)")


def _same_recipe(stored, recipe: Recipe) -> bool:
    """Compare through `Recipe`, so a manifest written before a field existed matches the recipe with its default."""
    try:
        return Recipe(**stored).to_dict() == recipe.to_dict()
    except (TypeError, ValueError):
        return False


def finish_int8(out: Path, manifest: dict) -> list[str]:
    """Convert every int8 component's float chunks to codes (see shrunk.convert_int8); the caller saves, then deletes."""
    from embedproof.index.shrunk import convert_int8

    superseded = []
    for component in manifest["components"].values():
        if component.get("precision") == "int8":
            superseded += convert_int8(out, manifest, component)
    return superseded


def build_index(recipe: Recipe, corpus: dict[str, Document], out: str | Path, encoder_options=None, chunk_size: int = 512,
                progress=None, encoder_backend: str = "torch", store_backend: str = "embedded", store_options: dict | None = None,
                ray_address: str | None = None, encode_chunks: EncodeChunks | None = None) -> dict:
    """Build (or resume building) the index of `recipe` over `corpus` in `out`; returns the manifest.

    `encode_chunks` replaces how pending chunks are encoded (the default is in-process, one after another);
    `ray_address` ("local" or a cluster address) encodes them with a Ray Data actor pool instead.
    """
    from embedproof.search.pipeline import Workspace

    if store_backend == "qdrant":
        from embedproof.index.qdrant_store import build_qdrant_index

        if ray_address is not None or encode_chunks is not None:
            raise EmbedproofError("--ray (and custom chunk encoders) work with the embedded store only, not --backend qdrant")
        return build_qdrant_index(recipe, corpus, out, encoder_options or encoder_options_for(encoder_backend), chunk_size,
                                  progress, encoder_backend, store_options)
    if store_backend != "embedded":
        raise EmbedproofError(f"--backend {store_backend}: not available yet")
    encoder_options = encoder_options or encoder_options_for(encoder_backend)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = list(corpus)
    manifest_path = out / MANIFEST
    with exclusive(out):
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
        if manifest is not None and (not _same_recipe(manifest.get("recipe"), recipe) or manifest.get("ids_sha256") != ids_digest(ids)
                                     or manifest.get("encoder_backend", "torch") != encoder_backend):
            raise EmbedproofError(f"{out}: holds an index of another recipe or corpus; choose an empty folder (or delete it to rebuild)")
        if manifest is not None and manifest.get("complete"):
            return manifest
        remove_uncommitted(out, manifest)
        if manifest is None:
            manifest = {"format": FORMAT, "recipe": recipe.to_dict(), "documents": len(ids), "ids_sha256": ids_digest(ids),
                        "encoder_backend": encoder_backend, "chunk_size": chunk_size, "files": {}, "docs": [], "components": {}, "complete": False}
            write_docs(out, manifest, "docs.jsonl", corpus.values())
            save_manifest(manifest_path, manifest)
        chunk_size = manifest["chunk_size"]
        texts = [corpus[d].full_text for d in ids]
        workspace = Workspace(ids, texts, encoder_options)
        if encode_chunks is None and ray_address is not None:
            from embedproof.index.ray_encode import ray_chunk_encoder

            encode_chunks = ray_chunk_encoder(ray_address, encoder_options)
        encode_chunks = encode_chunks or sequential_chunks(workspace)
        try:
            for model, kind in _components(recipe):
                encode_component(out, manifest, manifest_path, workspace, model, kind, texts, ids, 0, chunk_size, encode_chunks, progress,
                                 shrink=recipe.shrink)
        finally:
            getattr(encode_chunks, "close", lambda: None)()  # e.g. stop the local Ray that --ray local started
        superseded = finish_int8(out, manifest)
        manifest["complete"] = True
        save_manifest(manifest_path, manifest)
        for rel in superseded:  # float chunks the int8 codes replaced: no longer listed, so safe to drop now
            (out / rel).unlink(missing_ok=True)
    return manifest
