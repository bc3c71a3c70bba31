"""Pseudo-queries for unlabeled corpora by the inverse cloze task (Lee et al. 2019, ORQA).

A sentence taken out of a passage becomes the query and the rest of that passage its one relevant document;
where a passage has a title, the title can be the query instead (and is removed from the passage). These are
pseudo-labels: they reward lexical and topical overlap and can rank models differently from human judgments,
so every result built on them is labelled as such. `benchmarks/pseudo_vs_real.py` measures how well the
pseudo-label ranking of set-ups agrees with the real one on SciFact.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from embedproof.datasets.loading import Dataset
from embedproof.errors import DatasetError, LoadWarning

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
PSEUDO_NOTE = (
    "pseudo-labels from the inverse cloze task: not human judgments; compare set-ups, do not quote as accuracy"
)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def inverse_cloze(
    dataset: Dataset, n_queries: int = 300, seed: int = 0, title_share: float = 0.25, min_words: int = 5
) -> Dataset:
    """A copy of `dataset` with pseudo-queries, one relevant passage each, and those passages edited.

    A sampled passage with at least two sentences gives one sentence (of `min_words` words or more) as the
    query and keeps the rest; with probability `title_share` a titled passage gives its title instead.
    """
    rng = random.Random(seed)
    candidates = [doc for doc in dataset.corpus.values() if len(split_sentences(doc.text)) >= 2 or doc.title.strip()]
    if not candidates:
        raise DatasetError(
            "no passage has two sentences or a title: cannot build inverse-cloze pseudo-queries", dataset.path
        )
    rng.shuffle(candidates)
    corpus = dict(dataset.corpus)
    queries, qrels = {}, {}
    for doc in candidates:
        if len(queries) >= n_queries:
            break
        sentences = split_sentences(doc.text)
        if doc.title.strip() and (len(sentences) < 2 or rng.random() < title_share):
            query, edited = doc.title.strip(), replace(doc, title="")
        else:
            usable = [i for i, s in enumerate(sentences) if len(s.split()) >= min_words]
            if not usable or len(sentences) < 2:
                continue
            pick = rng.choice(usable)
            query = sentences[pick]
            edited = replace(doc, text=" ".join(s for i, s in enumerate(sentences) if i != pick))
        qid = f"ict-{len(queries) + 1}"
        queries[qid] = query
        qrels[qid] = {doc.id: 1}
        corpus[doc.id] = edited
    warnings = list(dataset.warnings) + [LoadWarning("pseudo_labels", f"{len(queries)} {PSEUDO_NOTE}")]
    if len(queries) < n_queries:  # a small corpus cannot give more: say so rather than return fewer silently
        warnings.append(
            LoadWarning(
                "pseudo_labels",
                f"asked for {n_queries} pseudo-queries, built {len(queries)}: only that many "
                f"of the {len(dataset.corpus):,} passages have a title or two sentences, one of "
                f"{min_words}+ words",
            )
        )
    return Dataset(f"{dataset.name} (inverse cloze)", dataset.path, corpus, queries, qrels, "pseudo", warnings)
