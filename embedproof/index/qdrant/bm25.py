"""BM25 as a Qdrant sparse vector with the IDF modifier, scoring exactly what embedproof's embedded BM25 scores.

embedproof's BM25 is bm25s' Lucene variant: score(q, d) = Σ_t c_q(t) · idf(t) · tf / (tf + k1·(1 − b + b·|d|/avgdl)),
with idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5)). Qdrant's `Modifier.IDF` multiplies each query weight by
ln((N − df + 0.5) / (df + 0.5) + 1) — the same formula — with N and df counted over the collection's points. So
a document vector of the saturated term frequency (the factor after idf) and a query vector of term counts give
bm25s' score, as long as (a) tokenisation is bm25s' own (same stopwords and stemmer), (b) avgdl is the whole
corpus' mean length (computed in one tokenising pass before the first upsert, kept in the manifest), and (c) term
ids do not collide. Term ids are a 32-bit blake2b hash of the token, not a fitted vocabulary: documents can be
upserted chunk by chunk (and appended later) without a global vocabulary, and queries need no state. Collisions
would merge two terms; the build counts them and records the number in the manifest (SciFact: 0 among its
26,559 terms; about n²/2³³ are expected, so ~116 for a million distinct terms).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

import numpy as np


def term_id(token: str) -> int:
    """A stable 32-bit id for a token (Qdrant sparse indices are u32); blake2b, not hash(), which is salted per
    process."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "little")


def corpus_statistics(encoder, texts: Sequence[str], batch: int = 2048) -> dict:
    """avgdl and hash collisions over the whole corpus: what the per-chunk document vectors need to agree with bm25s."""
    total, count, ids_of = 0, 0, {}
    for start in range(0, len(texts), batch):
        for tokens in encoder._tokens(texts[start : start + batch]):
            total += len(tokens)
            count += 1
            for token in tokens:
                ids_of.setdefault(token, term_id(token))
    distinct = len(set(ids_of.values()))
    return {
        "avgdl": total / count if count else 0.0,
        "terms": len(ids_of),
        "hash_collisions": len(ids_of) - distinct,
        "k1": encoder.k1,
        "b": encoder.b,
        "stopwords": encoder.stopwords,
        "stemmer": encoder.stemmer_language,
        "term_ids": "blake2b-32 of the bm25s token",
    }


def document_vectors(encoder, texts: Sequence[str], avgdl: float) -> list[tuple[list[int], list[float]]]:
    """(term ids, saturated tf) per document: BM25 without its idf factor, which Qdrant applies at query time."""
    k1, b = encoder.k1, encoder.b
    out = []
    for tokens in encoder._tokens(list(texts)):
        counts = Counter(term_id(t) for t in tokens)
        indices = sorted(counts)
        tf = np.array([counts[i] for i in indices], dtype=np.float64)
        norm = k1 * (1 - b + b * len(tokens) / avgdl) if avgdl else k1
        out.append((indices, (tf / (tf + norm)).tolist()))
    return out


def query_vector(encoder, text: str) -> tuple[list[int], list[float]]:
    """Term counts of the query (a repeated term counts twice, as in bm25s)."""
    counts = Counter(term_id(t) for t in encoder._tokens([text])[0])
    indices = sorted(counts)
    return indices, [float(counts[i]) for i in indices]


def rewritten_rows(manifest, skip: set[int], tokenisers: dict):
    """(component, row numbers, document vectors) chunk by chunk for every live row of `manifest` not in `skip`
    (rows retired by the change, or new ones), with the BM25 statistics the manifest records: what a change
    rewrites so every earlier document's saturated tf uses the new average length (see `edge.change`)."""
    bm25 = {key: c for key, c in manifest["components"].items() if "bm25" in c}
    if not bm25:
        return
    gone = manifest.retired_rows | skip
    earlier = [(r, d.full_text) for r, d in enumerate(manifest.rows()) if r not in gone]
    chunk = int(manifest["chunk_size"])
    for key, component in bm25.items():
        for start in range(0, len(earlier), chunk):
            part = earlier[start : start + chunk]
            rows = [r for r, _ in part]
            yield component, rows, document_vectors(tokenisers[key], [t for _, t in part], component["bm25"]["avgdl"])


def refit_statistics(manifest, retiring: list[int], first_row: int, encoders: dict, texts: list[str]) -> None:
    """Record in `manifest` the BM25 statistics of the live documents after a change (rows before `first_row` not
    retired before or by it, then the new `texts`), before any new row is encoded with them. O(N): it tokenises
    every live document."""
    bm25 = [key for key, c in manifest["components"].items() if "bm25" in c]
    if not bm25:
        return
    leaving = set(retiring) | manifest.retired_rows
    kept = [d.full_text for r, d in enumerate(manifest.rows()[:first_row]) if r not in leaving]
    for key in bm25:
        manifest["components"][key]["bm25"] = corpus_statistics(encoders[key], kept + texts)
