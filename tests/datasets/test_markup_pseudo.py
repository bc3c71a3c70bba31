"""Pseudo-queries on documentation-style Markdown rank set-ups as they do on the same documents as plain text.

The corpus is built here from plain passages (the demo collection's, and a SciFact subset when ../shared has it),
each wrapped the way documentation sites write pages: YAML front matter, a heading with an anchor, a FastAPI
include, a snippet include, an admonition holding half the passage, an HTML wrapper, inline and reference links
and an image. None of that markup may reach a document or a pseudo-query.
"""

import json
from pathlib import Path

import pytest
from scipy.stats import kendalltau

from embedproof.datasets.loading import Dataset, load_dataset, load_jsonl_corpus
from embedproof.datasets.pseudo import inverse_cloze, split_sentences
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.pareto import run_name
from embedproof.types import Document

SCIFACT = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "scifact"
SETUPS = ["bm25", "hashing-16", "hashing-64", "hashing-256", "hashing-1024"]
# What must never survive into a document or a query: anchors, includes, tags, link syntax, admonition and block
# markers, front matter keys.
MARKUP = [
    "{#",
    "{ #",
    "{*",
    "*}",
    "--8<--",
    "<div",
    "</",
    "<b>",
    "](",
    "![",
    "][",
    "!!!",
    "///",
    ":::",
    "---",
    "title:",
]


def _linked(sentence: str, n: int) -> str:
    """The sentence with its first long word as an inline link and its second as a reference link."""
    words = sentence.split(" ")
    long = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 6]
    if long:
        words[long[0]] = f"[{words[long[0]]}](https://example.com/{n}.html)"
    if len(long) > 1:
        words[long[1]] = f"[{words[long[1]]}][ref{n}]"
    return " ".join(words)


def _page(n: int, doc: Document) -> str:
    sentences = split_sentences(doc.text)
    half = max(1, len(sentences) // 2)
    first, rest = " ".join(sentences[:half]), sentences[half:]
    lines = ["---", *([f"title: {json.dumps(doc.title)}"] if doc.title else []), "tags: [docs, test]", "---", ""]
    if doc.title:
        lines += [f"# {doc.title} {{ #section-{n} }}", ""]
    lines += [f"{{* ../../docs_src/page{n}/tutorial001.py hl[3,5] *}}", "", '--8<-- "includes/abbreviations.md"', ""]
    lines += ['<div class="content" markdown>', "", _linked(first, n), "", "</div>", ""]
    if rest:
        lines += ["!!! note", *(f"    {s}" for s in rest), ""]
    lines += ["![](img/figure.png)", "", f"[ref{n}]: https://example.com/reference/{n}", ""]
    return "\n".join(lines)


def _folders(tmp_path: Path, corpus: dict[str, Document]) -> tuple[Dataset, Dataset]:
    """(the passages as a plain JSONL corpus, the same passages as a folder of marked-up .md pages)."""
    plain, pages = tmp_path / "plain.jsonl", tmp_path / "pages"
    pages.mkdir()
    with plain.open("w") as handle:
        for n, doc in enumerate(corpus.values()):
            handle.write(json.dumps({"_id": f"p{n:04d}", "title": doc.title, "text": doc.text}) + "\n")
            (pages / f"p{n:04d}.md").write_text(_page(n, doc))
    return load_jsonl_corpus(plain), load_dataset(pages)


def _ranking(dataset: Dataset) -> dict[str, float]:
    results = run_bench(dataset, SETUPS, BenchOptions(latency=False))
    return {run_name(r): r["metrics"]["ndcg@10"] for r in results["runs"]}


def _check(tmp_path: Path, corpus: dict[str, Document], n_queries: int) -> float:
    plain, marked = _folders(tmp_path, corpus)
    for doc in marked.corpus.values():
        assert not [token for token in MARKUP if token in doc.full_text], doc
    plain_q, marked_q = inverse_cloze(plain, n_queries), inverse_cloze(marked, n_queries)
    assert len(marked_q.queries) == n_queries
    for qid, query in marked_q.queries.items():
        assert not [token for token in MARKUP if token in query], (qid, query)
    real, pseudo = _ranking(plain_q), _ranking(marked_q)
    names = sorted(real)
    assert names == sorted(pseudo) and len(names) == len(SETUPS)
    tau = kendalltau([real[n] for n in names], [pseudo[n] for n in names]).statistic
    assert tau >= 0.9, (real, pseudo)
    return tau


def test_demo_passages_as_documentation_pages(tmp_path):
    demo = {i: d for i, d in load_dataset("demo").corpus.items() if d.text.strip()}
    _check(tmp_path, demo, 100)


def test_scifact_abstracts_as_documentation_pages(tmp_path):
    if not SCIFACT.is_dir():
        pytest.skip("../shared/datasets/scifact is not here")
    corpus = dict(list(load_dataset(SCIFACT).corpus.items())[:400])
    _check(tmp_path, corpus, 200)
