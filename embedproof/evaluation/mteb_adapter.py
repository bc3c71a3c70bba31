"""mteb interoperability: evaluate an embedproof encoder with mteb, and run an mteb retrieval task on a BEIR folder.

Numbers from `embedproof bench` are only worth comparing with leaderboard numbers if both tools agree on the same
data; this module lets mteb score embedproof's encoders (with the model card's prefixes, applied once) on a local
BEIR folder read by embedproof's own validating loaders, so the two can be checked against each other offline.

mteb is optional (`pip install 'embedproof[mteb]'`) and imported only when one of these is used.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedproof.errors import EmbedproofError, InvalidInputError, MissingExtraError

if TYPE_CHECKING:
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.models.model_meta import ModelMeta

INSTALL_HINT = "pip install 'embedproof[mteb]'"


def _require_mteb():
    try:
        import mteb
    except ImportError as exc:
        raise MissingExtraError(f"mteb is not installed: {INSTALL_HINT} ({exc})") from exc
    return mteb


def _is_query(prompt_type: Any) -> bool:
    # PromptType is a str enum ("query" / "document"); mteb 1.x also said "passage". Compare by value.
    return prompt_type is not None and str(getattr(prompt_type, "value", prompt_type)) == "query"


class MtebEncoder:
    """mteb's `EncoderProtocol` over an embedproof encoder.

    mteb tells the side with `prompt_type`: queries go to `encode_queries`, documents (and an untyped call, as in
    symmetric tasks) to `encode_documents`, so the card's prefixes are applied exactly once, by embedproof. mteb adds
    no prompt of its own: it only prompts models it wraps itself (sentence-transformers), and this is not one.
    Scores are dot products, as embedproof's own exact search computes them.
    """

    def __init__(self, encoder: Any, name: str | None = None, revision: str | None = None):
        _require_mteb()
        if not (hasattr(encoder, "encode_queries") and hasattr(encoder, "encode_documents")):
            raise InvalidInputError(
                f"{type(encoder).__name__} is not an embedproof encoder (no encode_queries/encode_documents)"
            )
        if getattr(encoder, "mode", "dense") != "dense":
            raise InvalidInputError(
                f"mteb can only evaluate dense encoders; {getattr(encoder, 'name', encoder)!r} is {encoder.mode}"
            )
        self.encoder = encoder
        self._meta = self._model_meta(name, revision)

    def _model_meta(self, name: str | None, revision: str | None) -> ModelMeta:
        from mteb.models.model_meta import ModelMeta, ScoringFunction

        card = getattr(self.encoder, "card", None)
        if name is None:
            raw = str(getattr(self.encoder, "name", type(self.encoder).__name__))
            # A card name ("BAAI/bge-small-en-v1.5") reads well in mteb's results; a local folder by its last part.
            name = card.name if card is not None and card.known else Path(raw).name or raw
        resolved = getattr(self.encoder, "resolved", None)
        revision = revision or getattr(resolved, "revision", None) or "no_revision_available"
        has_st = hasattr(getattr(self.encoder, "model", None), "encode")
        # model_copy(update=...) skips validation, so no hub look-up is triggered for the name.
        return ModelMeta.create_empty(
            {
                "name": name,
                "revision": revision,
                "embed_dim": getattr(self.encoder, "dim", None),
                "max_tokens": getattr(self.encoder, "max_tokens", None),
                "similarity_fn_name": ScoringFunction.DOT_PRODUCT,
                "framework": ["Sentence Transformers", "PyTorch"] if has_st else ["NumPy"],
                "use_instructions": False,
                "modalities": ["text"],
            }
        )

    @property
    def mteb_model_meta(self) -> ModelMeta:
        return self._meta

    def encode(
        self,
        inputs: Iterable[dict],
        *,
        task_metadata: Any = None,
        hf_split: str | None = None,
        hf_subset: str | None = None,
        prompt_type: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """All texts of mteb's dataloader in one call, so embedproof's batching and embedding cache apply."""
        texts = [text for batch in inputs for text in batch["text"]]
        side = self.encoder.encode_queries if _is_query(prompt_type) else self.encoder.encode_documents
        embeddings = side(texts)
        if embeddings.dense is None:
            raise EmbedproofError(
                f"{getattr(self.encoder, 'name', self.encoder)!r} returned no dense vectors ({embeddings.mode})"
            )
        return np.asarray(embeddings.dense, dtype=np.float32).reshape(len(texts), -1)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        from mteb.similarity_functions import dot_score

        return dot_score(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        from mteb.similarity_functions import pairwise_dot_score

        return pairwise_dot_score(embeddings1, embeddings2)


def _task_name(folder: Path, name: str | None) -> str:
    base = name or folder.name or "beir"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in base)


def _folder_revision(folder: Path) -> str:
    """Stands in for a hub revision in mteb's results: changes when a file of the folder changes (size or time)."""
    digest = hashlib.sha1()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return "local-" + digest.hexdigest()[:12]


def beir_folder_task(
    path: str | Path, split: str = "test", name: str | None = None, languages: list[str] | None = None
) -> AbsTaskRetrieval:
    """An mteb retrieval task over a local BEIR folder (or `demo`), read by embedproof's own loaders.

    Nothing is fetched from the hub: `load_data` hands mteb the corpus (`id`, `title`, `text`), the judged queries
    and the graded qrels. Title and text stay separate columns so that mteb joins them itself, as it does for its
    BEIR tasks (`title + " " + text`, stripped), and the model sees what mteb would show it.
    """
    _require_mteb()
    from datasets import Dataset as HFDataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata

    from embedproof.datasets.loading import DEMO_PATH, load_beir_folder

    folder = DEMO_PATH if str(path) == "demo" else Path(path).expanduser()
    task_name = _task_name(folder, name or ("demo" if str(path) == "demo" else None))
    data = load_beir_folder(folder, split, name=task_name)  # validates now: a bad file fails here, with its line

    metadata = TaskMetadata(
        name=task_name,
        description=f"Local BEIR folder {folder} ({split} split), loaded by embedproof.",
        dataset={"path": str(folder), "revision": _folder_revision(folder)},
        type="Retrieval",
        category="t2t",
        modalities=["text"],
        eval_splits=[split],
        eval_langs=languages or ["eng-Latn"],
        main_score="ndcg_at_10",
        license="not specified",
        bibtex_citation="",
    )

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        doc_ids = list(data.corpus)
        corpus = HFDataset.from_dict(
            {
                "id": doc_ids,
                "title": [data.corpus[d].title for d in doc_ids],
                "text": [data.corpus[d].text for d in doc_ids],
            }
        )
        queries = data.judged_queries
        self.dataset = {
            "default": {
                split: {
                    "corpus": corpus,
                    "queries": HFDataset.from_dict({"id": list(queries), "text": list(queries.values())}),
                    "relevant_docs": {qid: dict(judged) for qid, judged in data.qrels.items()},
                    "top_ranked": None,
                }
            }
        }
        self.data_loaded = True

    # metadata must be a class attribute: mteb's unload_data drops an instance's own metadata.
    cls = type(
        f"BeirFolder_{re.sub(r'[^0-9A-Za-z_]', '_', task_name)}",
        (AbsTaskRetrieval,),
        {"metadata": metadata, "load_data": load_data},
    )
    return cls()


def run_mteb(
    model_name_or_encoder: Any,
    beir_path: str | Path,
    split: str = "test",
    output_folder: str | Path | None = None,
    name: str | None = None,
    **encoder_options: Any,
) -> dict:
    """Run mteb on a local BEIR folder with an embedproof model; returns mteb's scores for the split.

    The dict holds mteb's own keys (`main_score`, `ndcg_at_10`, `recall_at_100`, ...). Results go to
    `output_folder` (mteb's result cache layout) when given, and nowhere otherwise; the run is always fresh.
    `encoder_options` (e.g. `use_cache=False`, `batch_size`) go to `get_encoder` when a model name is given.
    """
    mteb = _require_mteb()
    if isinstance(model_name_or_encoder, MtebEncoder):
        model = model_name_or_encoder
    elif isinstance(model_name_or_encoder, str):
        from embedproof.models.factory import get_encoder

        model = MtebEncoder(get_encoder(model_name_or_encoder, **encoder_options))
    else:
        model = MtebEncoder(model_name_or_encoder)
    task = beir_folder_task(beir_path, split, name=name)
    cache = mteb.ResultCache(Path(output_folder)) if output_folder is not None else None
    result = mteb.evaluate(
        model,
        task,
        cache=cache,
        overwrite_strategy="always",
        show_progress_bar=False,
        encode_kwargs={"batch_size": getattr(model.encoder, "batch_size", 32), "show_progress_bar": False},
    )
    if result.exceptions:
        raise EmbedproofError(f"mteb failed on {task.metadata.name}: {result.exceptions[0].exception}")
    scores = result.task_results[0].scores[split][0]
    return {k: v for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
