"""Pseudo-queries for unlabeled corpora by the inverse cloze task (Lee et al. 2019, ORQA), drawn as people read.

A sentence taken out of a document becomes the query and the rest of that document its one relevant document; a
heading (the title included) can be the query instead, and is removed from the document the same way. Headings are
the questions a page answers in its author's words ("Configure Swagger UI", "Dependencies with yield"), so they
are the closest thing an unlabeled corpus has to a real question.

How queries spread over a corpus:

- A document gives queries in proportion to its length: one per `WORDS_PER_QUERY` words (about one 256-token
  model window), at least one and at most `MAX_PER_DOCUMENT`, so a 5,000-word page is not one query drawn from
  anywhere in it and one giant page does not take over the set.
- Its sentences are cut into that many consecutive stretches of about equal length, and each stretch gives at
  most one query, so queries come from across the whole document, not only its start.
- A stretch gives one of its headings with probability `heading_share` (when it has one), else one of its
  sentences of `min_words` to `max_words` words, mostly words (a longer one is a paragraph the splitter could
  not cut, a table row of numbers or a line of code: none is a question). A heading shared by two or more
  documents ("Recap", "Next steps") cannot point to one of them and is never a query.
- Every query's one relevant document is the whole document (grade 1), though a heading's answer is its section:
  a search system returns documents, and the corpus holds whole documents.
- When the corpus offers more stretches than queries asked for, a uniform random choice of stretches is kept:
  long documents keep their larger share.

These are pseudo-labels: they reward lexical and topical overlap and can rank models differently from human
judgments, so every result built on them is labelled as such. `benchmarks/pseudo_vs_real.py` measures how well the
pseudo-label ranking of set-ups agrees with the real one on SciFact.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, replace

from embedproof.datasets.loading import Dataset
from embedproof.errors import DatasetError, LoadWarning
from embedproof.types import Document

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_BLOCKS = re.compile(r"\n[ \t]*\n")
PSEUDO_NOTE = (
    "pseudo-labels from the inverse cloze task: not human judgments; compare set-ups, do not quote as accuracy"
)
WORDS_PER_QUERY = 200
MAX_PER_DOCUMENT = 10


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass
class _Unit:
    """A sentence of a document (or its title, or a heading block): what a query can be and what it removes."""

    text: str
    block: int  # -1: the title
    heading: bool
    words: int


def _units(doc: Document) -> list[_Unit]:
    headings = {" ".join(h.split()) for h in doc.headings}
    units = [_Unit(doc.title.strip(), -1, True, len(doc.title.split()))] if doc.title.strip() else []
    for number, block in enumerate(b for b in _BLOCKS.split(doc.text) if b.strip()):
        if " ".join(block.split()) in headings:
            units.append(_Unit(" ".join(block.split()), number, True, len(block.split())))
            continue
        units.extend(_Unit(s, number, False, len(s.split())) for s in split_sentences(block))
    return units


def _stretches(units: list[_Unit]) -> list[list[_Unit]]:
    """The document's units cut into consecutive stretches of about `WORDS_PER_QUERY` words each."""
    words = sum(u.words for u in units)
    count = max(1, min(MAX_PER_DOCUMENT, round(words / WORDS_PER_QUERY)))
    stretches: list[list[_Unit]] = [[] for _ in range(count)]
    seen = 0
    for unit in units:
        stretches[min(count - 1, seen * count // max(words, 1))].append(unit)
        seen += unit.words
    return [s for s in stretches if s]


def _edited(doc: Document, removed: list[_Unit]) -> Document:
    """`doc` without the units that became queries (text rebuilt block by block, sentences joined by a space)."""
    gone = {(u.block, u.text) for u in removed}
    blocks: dict[int, list[str]] = {}
    for unit in _units(doc):
        if unit.block >= 0 and (unit.block, unit.text) not in gone:
            blocks.setdefault(unit.block, []).append(unit.text)
    headings = tuple(h for h in doc.headings if not any(u.heading and u.text == " ".join(h.split()) for u in removed))
    title = "" if (-1, doc.title.strip()) in gone else doc.title
    return replace(
        doc, text="\n\n".join(" ".join(b) for _, b in sorted(blocks.items())), title=title, headings=headings
    )


def inverse_cloze(
    dataset: Dataset,
    n_queries: int = 300,
    seed: int = 0,
    heading_share: float = 0.5,
    min_words: int = 5,
    max_words: int = 40,
) -> Dataset:
    """A copy of `dataset` with pseudo-queries, one relevant document each, and those documents edited.

    The rules are in the module docstring. A document always keeps at least one sentence or its title.
    """
    rng = random.Random(seed)
    units = {doc_id: _units(doc) for doc_id, doc in dataset.corpus.items()}
    shared = Counter(text for found in units.values() for text in {u.text.casefold() for u in found if u.heading})

    def usable(unit: _Unit) -> bool:
        if unit.heading:
            return shared[unit.text.casefold()] == 1
        worded = sum(token.strip(".,;:!?()'\"").isalpha() for token in unit.text.split())
        return min_words <= unit.words <= max_words and worded * 2 >= unit.words

    slots = [
        (doc_id, stretch)
        for doc_id, found in units.items()
        if len(found) >= 2
        for stretch in _stretches(found)
        if any(usable(u) for u in stretch)
    ]
    if not slots:
        raise DatasetError(
            "no document has two sentences (or a title and a sentence): cannot build inverse-cloze pseudo-queries",
            dataset.path,
        )
    rng.shuffle(slots)
    corpus = dict(dataset.corpus)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    removed: dict[str, list[_Unit]] = {}
    for doc_id, stretch in slots:
        if len(queries) >= n_queries:
            break
        taken = removed.setdefault(doc_id, [])
        if len(units[doc_id]) - len(taken) < 2:  # the document must keep something to be found by
            continue
        headings = [u for u in stretch if u.heading and usable(u)]
        sentences = [u for u in stretch if not u.heading and usable(u)]
        pick = rng.choice(headings if headings and (not sentences or rng.random() < heading_share) else sentences)
        taken.append(pick)
        qid = f"ict-{len(queries) + 1}"
        queries[qid] = pick.text
        qrels[qid] = {doc_id: 1}
    for doc_id, taken in removed.items():
        if taken:
            corpus[doc_id] = _edited(dataset.corpus[doc_id], taken)
    warnings = list(dataset.warnings) + [LoadWarning("pseudo_labels", f"{len(queries)} {PSEUDO_NOTE}")]
    if len(queries) < n_queries:  # a small corpus cannot give more: say so rather than return fewer silently
        warnings.append(
            LoadWarning(
                "pseudo_labels",
                f"asked for {n_queries} pseudo-queries, built {len(queries)}: the {len(dataset.corpus):,} documents "
                f"give one per {WORDS_PER_QUERY} words (at most {MAX_PER_DOCUMENT} each) from a heading or a "
                f"sentence of {min_words}-{max_words} words, and each keeps at least one sentence",
            )
        )
    return Dataset(
        f"{dataset.name} (inverse cloze)", dataset.path, corpus, queries, qrels, "pseudo", warnings, dataset.drop_code
    )


def query_sample(dataset: Dataset, n: int) -> list[tuple[str, str, list[str]]]:
    """(query id, text, relevant document ids) for `n` judged queries spread evenly over the query set."""
    ids = list(dataset.judged_queries)
    if n <= 0 or not ids:
        return []
    step = max(len(ids) / n, 1.0)
    chosen = list(dict.fromkeys(ids[int(i * step)] for i in range(min(n, len(ids)))))
    return [(qid, dataset.queries[qid], [d for d, g in dataset.qrels[qid].items() if g > 0]) for qid in chosen]
