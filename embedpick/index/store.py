"""The embedded persistent index: what a recipe needs on disk, built in atomic chunks that resume after a crash.

Layout of an index folder:
  manifest.json           recipe, model revisions, counts, every file's sha256, and `complete`
  docs.jsonl              ids, titles and texts (the cross-encoder reranker and search results need them)
  <model>/dense-NNNNN.npy  float32 vectors, one file per chunk of documents
  <model>/sparse-NNNNN.npz SPLADE rows (CSR arrays), one file per chunk
  <model>/tokens-NNNNN.npz token matrices for a MaxSim reranker (float16, with lengths)
Each chunk is written to a temporary name and renamed, then recorded in the manifest (itself replaced
atomically), so a killed build leaves only finished chunks and `build_index` resumes after the last one. BM25 is
not stored: its IDF is a whole-corpus statistic, so it is refitted from docs.jsonl when the index loads (about a
second for 5,000 documents); appending documents therefore changes every BM25 score, and only BM25's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from embedpick.atomic import atomic_open, write_json_atomic
from embedpick.embeddings import Embeddings
from embedpick.errors import EmbedpickError
from embedpick.evaluation.readers import Document
from embedpick.paths import safe_name
from embedpick.recipe import Recipe

FORMAT = 1
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _save_chunk(path: Path, emb: Embeddings, kind: str) -> None:
    with atomic_open(path, "wb") as handle:
        if kind == "tokens":
            np.savez(handle, lengths=np.array([len(m) for m in emb.multivector]), tokens=np.concatenate(emb.multivector).astype(np.float16))
        elif emb.mode == "dense":
            np.save(handle, np.asarray(emb.dense, dtype=np.float32), allow_pickle=False)
        else:
            m = sp.csr_matrix(emb.sparse, dtype=np.float32)
            np.savez(handle, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape))


def encoder_options_for(backend: str):
    """Encoder options for every model of an index: the encoder backend it was built with (queries must match)."""
    return (lambda model: {}) if backend == "torch" else (lambda model: {"backend": backend})


def build_index(recipe: Recipe, corpus: dict[str, Document], out: str | Path, encoder_options=None, chunk_size: int = 512,
                progress=None, encoder_backend: str = "torch", store_backend: str = "embedded", store_options: dict | None = None,
                ray_address: str | None = None) -> dict:
    """Build (or resume building) the index of `recipe` over `corpus` in `out`; returns the manifest."""
    from embedpick.pipeline import Workspace

    if store_backend != "embedded":
        raise EmbedpickError(f"--backend {store_backend}: not available yet")
    if ray_address is not None:
        raise EmbedpickError("--ray: not available yet")
    encoder_options = encoder_options or encoder_options_for(encoder_backend)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = list(corpus)
    docs_path = out / "docs.jsonl"
    manifest_path = out / MANIFEST
    ids_digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    if manifest is not None and (manifest.get("recipe") != recipe.to_dict() or manifest.get("ids_sha256") != ids_digest
                                 or manifest.get("encoder_backend", "torch") != encoder_backend):
        raise EmbedpickError(f"{out}: holds an index of another recipe or corpus; choose an empty folder (or delete it to rebuild)")
    if manifest is None:
        with atomic_open(docs_path, "w", encoding="utf-8") as handle:
            for doc in corpus.values():
                handle.write(json.dumps({"_id": doc.id, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")
        manifest = {"format": FORMAT, "recipe": recipe.to_dict(), "documents": len(ids), "ids_sha256": ids_digest,
                    "encoder_backend": encoder_backend, "chunk_size": chunk_size, "files": {"docs.jsonl": _sha256(docs_path)}, "components": {}, "complete": False}
        write_json_atomic(manifest_path, manifest)
    chunk_size = manifest["chunk_size"]
    texts = [corpus[d].full_text for d in ids]
    workspace = Workspace(ids, texts, encoder_options)
    for model, kind in _components(recipe):
        key = f"{kind}:{model}"
        encoder = workspace.encoder(model, kind)
        component = manifest["components"].setdefault(key, {"model": model, "kind": kind, "revision": getattr(getattr(encoder, "resolved", None), "revision", None),
                                                            "mode": getattr(encoder, "mode", None), "chunks": []})
        if kind == "first" and getattr(encoder, "name", "") == "bm25":
            component["stored"] = "refitted from docs.jsonl at load (global IDF)"
            continue
        folder = out / safe_name(model)
        folder.mkdir(exist_ok=True)
        advance = progress(f"{model} ({kind})", len(ids)) if progress else None
        for number, start in enumerate(range(0, len(ids), chunk_size)):
            prefix = "tokens" if kind == "tokens" else ("dense" if component["mode"] == "dense" else "sparse")
            rel = f"{safe_name(model)}/{prefix}-{number:05d}.{'npy' if prefix == 'dense' else 'npz'}"
            if rel in manifest["files"] and (out / rel).is_file():
                if advance:
                    advance(min(chunk_size, len(ids) - start))
                continue  # committed by an earlier (possibly interrupted) build
            emb = encoder.encode_documents(texts[start : start + chunk_size], ids[start : start + chunk_size])
            _save_chunk(out / rel, emb, kind)
            manifest["files"][rel] = _sha256(out / rel)
            component["chunks"].append(rel)
            write_json_atomic(manifest_path, manifest)
            if advance:
                advance(len(emb))
    manifest["complete"] = True
    write_json_atomic(manifest_path, manifest)
    return manifest
