"""Load a retrieval collection (BEIR folder, plain JSONL corpus, folder of text files, the demo, or a BEIR name).

The loaded `Dataset` keeps every warning the readers raised, so bench output and results.json can show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from embedproof.datasets.readers import read_corpus, read_qrels, read_queries
from embedproof.errors import DatasetError, LoadWarning
from embedproof.types import Document

DEMO_PATH = Path(__file__).resolve().parent.parent / "data" / "demo"


@dataclass
class Dataset:
    """A corpus with (optionally) queries and graded judgments for one split."""

    name: str
    path: str
    corpus: dict[str, Document]
    queries: dict[str, str] = field(default_factory=dict)
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    split: str | None = None
    warnings: list[LoadWarning] = field(default_factory=list)
    drop_code: bool = False  # the code blocks of Markdown/HTML files were dropped (`--drop-code`): other texts

    @property
    def judged_queries(self) -> dict[str, str]:
        """Queries of this split that have at least one judgment: the ones metrics are computed over."""
        return {qid: self.queries[qid] for qid in self.qrels}

    @property
    def graded(self) -> bool:
        return any(score > 1 for judged in self.qrels.values() for score in judged.values())

    def split_qrels(self, split: str) -> dict[str, dict[str, int]]:
        """Judgments of another split of the same collection (e.g. `train` for tuning while scoring `test`)."""
        if split == self.split:
            return self.qrels
        path = Path(self.path) / "qrels" / f"{split}.tsv"
        if not path.is_file():
            raise DatasetError(f"no judgments for split {split!r}", path)
        qrels = read_qrels(path, self.queries, self.corpus, self.warnings)
        if not qrels:
            raise DatasetError(f"split {split!r} has no judged queries", path)
        return qrels

    def summary(self) -> dict:
        """The `dataset` block of results.json."""
        return {
            "name": self.name,
            "path": self.path,
            "split": self.split,
            "documents": len(self.corpus),
            "queries": len(self.queries),
            "judged_queries": len(self.qrels),
            "judgments": sum(len(j) for j in self.qrels.values()),
            "graded": self.graded,
            "labels": "pseudo (inverse cloze)" if self.split == "pseudo" else ("qrels" if self.qrels else "none"),
            "warnings": [str(w) for w in self.warnings],
            "drop_code": self.drop_code,
        }


def _find(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.jsonl", f"{stem}.jsonl.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_beir_folder(folder: str | Path, split: str = "test", name: str | None = None) -> Dataset:
    """Load a BEIR folder: corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv.

    A folder with only a corpus loads as an unlabeled collection (no queries, no judgments).
    """
    folder = Path(folder)
    corpus_path = _find(folder, "corpus")
    if corpus_path is None:
        raise DatasetError(
            "no corpus.jsonl or corpus.jsonl.gz in this folder (expected BEIR layout) "
            "and no .txt/.md files (a text corpus)",
            folder,
        )
    warnings: list[LoadWarning] = []
    corpus = read_corpus(corpus_path, warnings)
    dataset = Dataset(name or folder.name, str(folder), corpus, warnings=warnings)
    queries_path = _find(folder, "queries")
    qrels_dir = folder / "qrels"
    if queries_path is None and not qrels_dir.is_dir():
        return dataset
    if queries_path is None:
        raise DatasetError("qrels/ found but no queries.jsonl[.gz]", folder)
    dataset.queries = read_queries(queries_path)
    qrels_path = qrels_dir / f"{split}.tsv"
    if not qrels_path.is_file():
        available = sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
        raise DatasetError(
            f"no judgments for split {split!r} (available splits: {', '.join(available) or 'none'})", qrels_path
        )
    dataset.qrels = read_qrels(qrels_path, dataset.queries, corpus, warnings)
    dataset.split = split
    if not dataset.qrels:
        raise DatasetError(f"split {split!r} has no judged queries (after excluding unknown ids)", qrels_path)
    return dataset


def load_jsonl_corpus(path: str | Path, name: str | None = None) -> Dataset:
    """Load a plain JSONL corpus (one {"_id"|"id", "text", "title"?} per line) as an unlabeled collection."""
    path = Path(path)
    warnings: list[LoadWarning] = []
    corpus = read_corpus(path, warnings)
    stem = path.name.split(".")[0]
    return Dataset(name or stem, str(path), corpus, warnings=warnings)


def load_text_folder(folder: str | Path, name: str | None = None, drop_code: bool = False) -> Dataset:
    """Load a folder of `.txt`/`.md`/`.html` files as an unlabeled collection (rules in `textfolder`)."""
    from embedproof.datasets.textfolder import read_text_folder

    folder = Path(folder)
    warnings: list[LoadWarning] = []
    corpus = read_text_folder(folder, warnings, drop_code)
    return Dataset(name or folder.resolve().name, str(folder), corpus, warnings=warnings, drop_code=drop_code)


def load_dataset(
    source: str | Path, split: str = "test", cache_dir: str | Path | None = None, drop_code: bool = False
) -> Dataset:
    """Load by path (BEIR folder, JSONL file, folder of text files), `demo` for the built-in collection, or a BEIR name.

    A folder with `corpus.jsonl[.gz]` is read as BEIR; one without it but with `.txt`/`.md`/`.html` files as a text
    corpus. `drop_code` removes the code blocks of a text corpus's Markdown and HTML files (and is an error for any
    other source, where there is no markup to read it from).

    A BEIR name (e.g. `scifact`) is downloaded once into the cache when online; offline it fails with a
    message that names the local-path alternative.
    """
    from embedproof.datasets.download import BEIR_DATASETS, fetch_beir

    text = str(source)
    path = Path(text).expanduser()
    if text != "demo" and path.is_dir():
        from embedproof.datasets.textfolder import is_text_folder

        if _find(path, "corpus") is None and is_text_folder(path):
            return load_text_folder(path, drop_code=drop_code)
    if drop_code:
        raise DatasetError(
            "code blocks can only be dropped (--drop-code) from a folder of .md/.html files, and this is not one", text
        )
    if text == "demo":
        return load_beir_folder(DEMO_PATH, split, name="demo")
    if path.is_dir():
        return load_beir_folder(path, split)
    if path.is_file():
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            return load_jsonl_corpus(path)
        raise DatasetError(
            "unsupported file type (expected a BEIR folder, a folder of .txt/.md files or a .jsonl / .jsonl.gz corpus)",
            path,
        )
    if text.lower() in BEIR_DATASETS:
        return load_beir_folder(fetch_beir(text.lower(), cache_dir), split, name=text.lower())
    raise DatasetError(
        "no such file or folder, and not a known dataset name "
        "(try 'demo', a BEIR folder, a .jsonl corpus, a folder of .txt/.md files, "
        f"or one of: {', '.join(sorted(BEIR_DATASETS))})",
        text,
    )
