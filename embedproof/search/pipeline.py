"""Run a `Recipe` over a batch of queries: first pass(es) → fusion → rerank, with per-stage counts and timings.

Encodings are memoised per model in a `Workspace`, so several recipes over one corpus encode each model once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embedproof.defaults import RESCORE_MULTIPLIER
from embedproof.models.protocols import Encoder, Reranker
from embedproof.search.chunking import Chunks, chunk_documents, pool_to_documents, tokenizer_of
from embedproof.search.dense import run_from_indices
from embedproof.search.fusion import fuse, top
from embedproof.search.maxsim import PackedTokens
from embedproof.search.recipe import Component, Recipe
from embedproof.search.stored import search_stored
from embedproof.types import Embeddings, Run
from embedproof.vectors.stored_form import StoredForm


@dataclass
class Stage:
    """What one stage did: its name, how many candidates per query it kept, its run and its wall time."""

    name: str
    candidates: int
    seconds: float
    run: Run | None = field(repr=False)  # None for a query-encoding stage
    # a chunked first pass: query → document → row of its best chunk in `workspace.chunked(model, chunking)`
    best_chunks: dict[str, dict[str, int]] | None = field(default=None, repr=False)


class Workspace:
    """A corpus and the encoders/encodings built for it, reused across recipes and query sets."""

    def __init__(
        self,
        doc_ids: list[str],
        doc_texts: list[str],
        encoder_options: Callable[[str], dict] | None = None,
        progress=None,
    ):
        """`encoder_options(model)` gives each encoder's keyword options (backend, cache, batch size); none by
        default."""
        self.doc_ids, self.doc_texts = doc_ids, doc_texts
        self._options = encoder_options or (lambda model: {})
        self._progress = progress
        self._encoders: dict[str, Encoder | Reranker] = {}
        self._docs: dict[str, Embeddings] = {}
        self._tokens: dict[str, PackedTokens] = {}
        self._positions: dict[str, int] | None = None
        self._shrunk: dict[tuple, object] = {}
        self._inverted: dict[str, object] = {}
        self._chunked: dict[tuple, Workspace] = {}
        self.chunks: Chunks | None = None  # set on a workspace of chunks (see `chunked`)
        self._tag = ""  # prefixes encode_seconds keys and progress labels of a workspace of chunks
        self.encode_seconds: dict[str, float] = {}

    def encoder(self, model: str, kind: str = "first") -> Encoder | Reranker:
        """The model's encoder for `kind` ("first": its own mode, "tokens": a `TokenEncoder`, "cross-encoder": a
        `Reranker`), built once per workspace."""
        key = f"{kind}:{model}"
        if key not in self._encoders:
            from embedproof.models.factory import get_encoder

            self._encoders[key] = get_encoder(model, kind, **self._options(model))
        return self._encoders[key]

    def sharing_encoders(self, doc_ids: list[str], doc_texts: list[str]) -> Workspace:
        """A workspace of other documents (an index's next generation) that shares this one's loaded encoders and
        options, so no model loads twice; nothing encoded for this workspace's documents carries over."""
        other = Workspace(doc_ids, doc_texts, self._options, self._progress)
        other._encoders = self._encoders
        return other

    def documents(self, model: str, kind: str = "first") -> Embeddings:
        key = f"{kind}:{model}"
        if key not in self._docs:
            what = f"{self._tag} chunks" if self._tag else "documents"
            advance = self._progress(f"{model}: {what}", len(self.doc_ids)) if self._progress else None
            start = time.perf_counter()
            self._docs[key] = self.encoder(model, kind).encode_documents(
                self.doc_texts, self.doc_ids, on_progress=advance
            )
            self.encode_seconds[self._tag + key] = time.perf_counter() - start
        return self._docs[key]

    def chunked(self, model: str, chunking: tuple[int, int]) -> Workspace:
        """The workspace of this corpus's token windows for `model` (cut once, with its tokenizer), sharing this
        workspace's encoders: a chunked first pass searches there and pools back (see search/chunking.py)."""
        if (model, *chunking) not in self._chunked:
            self.preload_chunks(
                model, chunking, chunk_documents(tokenizer_of(self.encoder(model)), self.doc_texts, *chunking)
            )
        return self._chunked[(model, *chunking)]

    def preload_chunks(self, model: str, chunking: tuple[int, int], chunks: Chunks) -> Workspace:
        """Use chunks read from an index (owners and spans; the texts are the spans of the documents)."""
        starts = np.r_[0, np.flatnonzero(chunks.owners[1:] != chunks.owners[:-1]) + 1]
        number = np.arange(len(chunks)) - np.repeat(starts, np.diff(np.r_[starts, len(chunks)]))
        ids = [f"{self.doc_ids[o]}#{n}" for o, n in zip(chunks.owners.tolist(), number.tolist())]
        child = Workspace(ids, chunks.texts, self._options, self._progress)
        child._encoders, child.encode_seconds, child.chunks = self._encoders, self.encode_seconds, chunks
        child._tag = f"{chunking[0]}/{chunking[1]}"
        self._chunked[(model, *chunking)] = child
        return child

    def preload(self, model: str, embeddings: Embeddings, kind: str = "first") -> None:
        """Use document vectors read from an index instead of encoding the corpus."""
        self._docs[f"{kind}:{model}"] = embeddings
        self._inverted.pop(model, None)
        if kind == "tokens":
            self._tokens[model] = PackedTokens.from_matrices(embeddings.multivector)

    def shrunk(self, model: str, dim: int | None, precision: str) -> StoredForm:
        """The documents of a dense model at a recipe's dim/precision, derived once (or preloaded from an index)."""
        key = (model, dim, precision)
        if key not in self._shrunk:
            self._shrunk[key] = StoredForm.from_float(self.documents(model).dense, dim, precision)
        return self._shrunk[key]

    def inverted(self, model: str):
        """A sparse model's documents as an inverted index (terms × documents), built once per corpus: a query's
        product then reads its own terms' postings instead of converting the whole corpus matrix (search/sparse.py)."""
        if model not in self._inverted:
            from embedproof.search.sparse import inverted_index

            self._inverted[model] = inverted_index(self.documents(model).sparse)
        return self._inverted[model]

    def preload_shrunk(self, model: str, dim: int | None, precision: str, shrunk: StoredForm) -> None:
        """Use an index's stored dim/precision form: no float documents are needed (nor encoded) for this model."""
        self._shrunk[(model, dim, precision)] = shrunk

    def has_shrunk(self, model: str, dim: int | None, precision: str) -> bool:
        return (model, dim, precision) in self._shrunk

    @property
    def positions(self) -> dict[str, int]:
        """Each document id's corpus row, built once: a rerank looks its shortlist up here on every query."""
        if self._positions is None:
            self._positions = {doc: i for i, doc in enumerate(self.doc_ids)}
        return self._positions

    def packed_tokens(self, model: str, rows: Sequence[int]) -> PackedTokens:
        """The packed token vectors of `model`, holding at least documents `rows` (a rerank shortlist): each
        document is encoded once, on first need, and kept in memory as float32 (see `PackedTokens`)."""
        packed = self._tokens.get(model)
        missing = list(rows) if packed is None else [r for r in rows if r not in packed]
        if missing:
            label = f"{model}: token vectors of shortlisted documents"
            advance = self._progress(label, len(missing)) if self._progress else None
            encoded = self.encoder(model, "tokens").encode_documents(
                [self.doc_texts[r] for r in missing], [self.doc_ids[r] for r in missing], on_progress=advance
            )
            if packed is None:
                dim = encoded.multivector[0].shape[1] if encoded.multivector else 0
                packed = self._tokens[model] = PackedTokens(len(self.doc_ids), dim)
            packed.add(missing, encoded.multivector)
        return packed if packed is not None else PackedTokens(len(self.doc_ids), 0)

    def token_rows(self, model: str, rows: list[int]) -> dict[int, np.ndarray]:
        """Token matrices (float32 views) of some documents, encoded once per row and kept in memory."""
        packed = self.packed_tokens(model, rows)
        return {r: packed.document(r) for r in rows}

    def token_bytes_per_passage(self, model: str) -> float:
        """Mean float16 bytes of the token matrices encoded so far for `model` (0 if none)."""
        packed = self._tokens.get(model)
        return 2 * packed.dim * int(packed.lengths.sum()) / packed.held if packed is not None and packed.held else 0.0


def _shrinks(workspace: Workspace, model: str, shrink: tuple[int | None, str] | None) -> bool:
    """Whether the recipe's dim/precision applies to `model`: dense first-pass models only (not BM25, SPLADE,
    MaxSim)."""
    if shrink is None or Component.of_first_pass(model).kind == "tokens":
        return False
    return workspace.has_shrunk(model, *shrink) or workspace.encoder(model).mode == "dense"


JOINT = "first+tokens"  # one forward pass giving a model's pooled and token vectors


def query_encoders(recipe: Recipe, workspace: Workspace | None = None) -> list[str]:
    """Encoder keys (`kind:model`) whose query encodings the recipe needs, each once, in order.

    With a workspace, a model needed both pooled (first pass) and as tokens (MaxSim rerank) is one key,
    `first+tokens:model`, when one forward pass can give both (see `shares_forward_pass`).
    """
    keys = list(dict.fromkeys(c.key for c in recipe.components() if c.kind != "cross-encoder"))
    if workspace is None:
        return keys
    from embedproof.models.multivector import shares_forward_pass

    for model in [k.split(":", 1)[1] for k in keys if k.startswith("first:")]:
        if f"tokens:{model}" in keys and shares_forward_pass(
            workspace.encoder(model), workspace.encoder(model, "tokens")
        ):
            keys = [f"{JOINT}:{model}" if k == f"first:{model}" else k for k in keys if k != f"tokens:{model}"]
    return keys


def encode_queries(workspace: Workspace, key: str, query_ids, query_texts) -> Embeddings | dict[str, Embeddings]:
    """One query-side encoder pass (`key` from `query_encoders`); a joint key gives {first key: …, tokens key: …}."""
    kind, model = key.split(":", 1)
    if kind == JOINT:
        from embedproof.models.multivector import encode_pooled_and_tokens

        pooled, tokens = encode_pooled_and_tokens(
            workspace.encoder(model), workspace.encoder(model, "tokens"), query_texts, query_ids
        )
        return {f"first:{model}": pooled, f"tokens:{model}": tokens}
    return workspace.encoder(model, kind).encode_queries(query_texts, query_ids)


def _flatten(encoded: dict) -> dict[str, Embeddings]:
    flat: dict[str, Embeddings] = {}
    for key, value in encoded.items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


def _first_pass(
    workspace: Workspace, model: str, encoded: dict[str, Embeddings], query_ids, recipe: Recipe
) -> tuple[Run, dict[str, dict[str, int]] | None]:
    """The model's top `candidates` documents; a chunked recipe ranks chunks and pools them to documents, keeping
    each document's best chunk."""
    k, shrink, multiplier = recipe.candidates, recipe.shrink, recipe.rescore_multiplier
    if recipe.chunking is None or Component.of_first_pass(model).kind == "tokens":
        idx, scores = _search_rows(workspace, model, encoded, k, shrink, multiplier)
        return run_from_indices(query_ids, workspace.doc_ids, idx, scores), None
    space = workspace.chunked(model, recipe.chunking)
    idx, scores = _search_rows(space, model, encoded, k * space.chunks.most_per_document, shrink, multiplier)
    docs, scores, best = pool_to_documents(idx, scores, space.chunks.owners, k)
    ids = workspace.doc_ids
    best_chunks = {
        qid: {ids[d]: c for d, c in zip(row.tolist(), chunks.tolist()) if d >= 0}
        for qid, row, chunks in zip(query_ids, docs, best)
    }
    return run_from_indices(query_ids, ids, docs, scores), best_chunks


def _search_rows(
    workspace: Workspace,
    model: str,
    encoded: dict[str, Embeddings],
    k: int,
    shrink: tuple[int | None, str] | None = None,
    rescore_multiplier: int = RESCORE_MULTIPLIER,
) -> tuple[np.ndarray, np.ndarray]:
    from embedproof.search.retrieve import search

    if _shrinks(workspace, model, shrink):
        idx, scores = search_stored(
            workspace.shrunk(model, *shrink), encoded[f"first:{model}"].dense, k, rescore_multiplier
        )
    elif Component.of_first_pass(model).kind == "tokens":
        from embedproof.search.maxsim import maxsim_search

        name = Component.of_first_pass(model).model
        docs = workspace.documents(name, "tokens")
        idx, scores = maxsim_search(encoded[f"tokens:{name}"].multivector, docs.multivector, k)
    elif encoded[f"first:{model}"].mode == "sparse" and workspace.documents(model).mode == "sparse":
        from embedproof.search.sparse import sparse_search

        idx, scores = sparse_search(encoded[f"first:{model}"].sparse, None, k, inverted=workspace.inverted(model))
    else:
        idx, scores = search(encoded[f"first:{model}"], workspace.documents(model), k)
    return idx, scores


def rerank_shortlist(
    workspace: Workspace, recipe: Recipe, run: Run, encoded: dict[str, Embeddings], query_ids, query_texts
) -> tuple[Run, float]:
    """(reranked run, seconds spent reranking); encoding the shortlisted documents is indexing work, not timed."""
    kind, model = recipe.reranker
    shortlist = top(run, recipe.rerank_top)
    position = workspace.positions
    reranked: Run = {}
    if kind == "maxsim":
        # Only the shortlisted documents need token vectors (cached on disk like any other encoding).
        packed = workspace.packed_tokens(model, sorted({position[d] for docs in shortlist.values() for d in docs}))
        start = time.perf_counter()
        for qid, q_tokens in zip(query_ids, encoded[f"tokens:{model}"].multivector):
            docs = list(shortlist.get(qid, {}))
            reranked[qid] = dict(zip(docs, packed.maxsim(q_tokens, [position[d] for d in docs]).tolist()))
    else:
        encoder = workspace.encoder(model, "cross-encoder")
        start = time.perf_counter()
        for qid, text in zip(query_ids, query_texts):
            docs = list(shortlist.get(qid, {}))
            reranked[qid] = dict(
                zip(docs, encoder.score(text, [workspace.doc_texts[position[d]] for d in docs]).tolist())
            )
    return place_on_top(reranked, run), time.perf_counter() - start


def place_on_top(reranked: Run, run: Run) -> Run:
    """Reranked documents first (by rerank score), then the rest of the first-pass list in its own order."""
    out: Run = {}
    for qid, scores in run.items():
        head = reranked.get(qid, {})
        rest = {d: s for d, s in scores.items() if d not in head}
        if head and rest:
            shift = max(rest.values()) - min(head.values()) + 1.0  # keeps every reranked score above the rest
            head = {d: s + shift for d, s in head.items()}
        out[qid] = {**head, **rest}
    return out


def run_recipe(
    recipe: Recipe,
    workspace: Workspace,
    query_ids: list[str],
    query_texts: list[str],
    fusion_override: dict | None = None,
    encoded: dict[str, Embeddings] | None = None,
) -> list[Stage]:
    """Execute `recipe` for these queries; the last stage's run is the recipe's answer.

    Query encoding is its own stage per encoder (`encode:kind:model`, with no run), so a model's encoder time is
    never mixed into its search time. With `encoded` (keys from `query_encoders`) the queries arrive encoded and
    only the search stages run: the bench times each encoder once and shares it among recipes that use it.
    """
    stages: list[Stage] = []
    for model in recipe.first_pass:
        # Encode the corpus before the clock starts: that is indexing, not query-time work.
        component = Component.of_first_pass(model)
        space = (
            workspace.chunked(model, recipe.chunking) if recipe.chunking and component.kind != "tokens" else workspace
        )
        if component.kind == "tokens":
            workspace.documents(component.model, "tokens")
        elif _shrinks(space, model, recipe.shrink):
            space.shrunk(model, *recipe.shrink)  # truncating/quantising the corpus is indexing work too
        else:
            space.documents(model)
    if encoded is None:
        encoded = {}
        for key in query_encoders(recipe, workspace):
            start = time.perf_counter()
            encoded[key] = encode_queries(workspace, key, query_ids, query_texts)
            stages.append(Stage(f"encode:{key}", 0, time.perf_counter() - start, None))
    encoded = _flatten(encoded)
    runs = []
    for model in recipe.first_pass:
        start = time.perf_counter()
        run, best_chunks = _first_pass(workspace, model, encoded, query_ids, recipe)
        stages.append(Stage(f"first_pass:{model}", recipe.candidates, time.perf_counter() - start, run, best_chunks))
        runs.append(run)
    current = runs[0]
    if len(runs) > 1:
        params = fusion_override or {"method": recipe.fusion, "weights": recipe.weights, **recipe.fusion_params}
        params = dict(params)
        method = params.pop("method")
        weights = params.pop("weights", None)
        start = time.perf_counter()
        current = top(fuse(runs, method, weights, **params), recipe.candidates)
        stages.append(Stage(f"fusion:{method}", recipe.candidates, time.perf_counter() - start, current))
    if recipe.rerank:
        current, seconds = rerank_shortlist(workspace, recipe, current, encoded, query_ids, query_texts)
        stages.append(Stage(f"rerank:{recipe.rerank}", recipe.rerank_top, seconds, current))
    return stages


def ranking_stages(stages: list[Stage]) -> list[Stage]:
    """The stages that produce a ranking (first passes, fusion, rerank), without the query-encoding ones."""
    return [s for s in stages if s.run is not None]


def best_chunk(workspace: Workspace, recipe: Recipe, stages: list[Stage], query_id: str, doc: str) -> dict | None:
    """For a chunked recipe: `doc`'s best chunk for the query under the first first-pass model that retrieved it,
    with that chunk's score and its character span in the document's text (None when no chunked pass found it)."""
    for model, stage in zip(recipe.first_pass, ranking_stages(stages)):
        row = (stage.best_chunks or {}).get(query_id, {}).get(doc)
        if row is not None:
            space = workspace.chunked(model, recipe.chunking)
            start, end = space.chunks.spans[row].tolist()
            score = stage.run[query_id][doc]
            return {"model": model, "score": score, "start": start, "end": end, "text": space.doc_texts[row]}
    return None
