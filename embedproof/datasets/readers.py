"""Readers for the BEIR file formats that validate as they go and say exactly where a problem is.

Fatal problems (malformed JSON, missing or wrongly typed fields, duplicate ids, text that is not valid Unicode:
bytes that are not UTF-8, or a lone surrogate escape such as "\\ud800") raise `DatasetError` with file and line;
recoverable ones (empty texts, judgments naming unknown ids) become counted `LoadWarning`s.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

from embedproof.errors import DatasetError, LoadWarning
from embedproof.files import UNICODE_RULE, lone_surrogate
from embedproof.types import Document

# How many example lines a grouped warning names before it says "and N more".
_EXAMPLES = 3


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            yield from enumerate(handle, start=1)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetError(f"truncated or corrupt gzip file ({exc})", path) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read file ({exc.strerror or exc})", path) from exc


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    for number, raw in _raw_lines(path):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as Windows tools write
            raw = raw[3:]
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"not valid UTF-8 at byte {exc.start} ({exc.reason})", path, number) from exc


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; anything but a JSON object is an error."""
    path = Path(path)
    for number, line in _text_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"malformed JSON: {exc.msg} (column {exc.colno})", path, number) from exc
        if not isinstance(record, dict):
            raise DatasetError(f"expected a JSON object, found {type(record).__name__}", path, number)
        if "\\u" in line and lone_surrogate(record):  # only a \u escape can make one: UTF-8 bytes cannot
            raise DatasetError(f"not valid Unicode: {UNICODE_RULE}", path, number)
        yield number, record


def _id_field(record: dict, keys: tuple[str, ...], path: Path, number: int) -> str:
    for key in keys:
        if key in record:
            value = record[key]
            # bool is an int subclass; an id of `true` is a bug in the producer, not an id.
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise DatasetError(f"id must be a string or integer, found {type(value).__name__}", path, number, key)
            value = str(value)
            if not value.strip():
                raise DatasetError("id is empty", path, number, key)
            return value
    raise DatasetError(f"missing id (expected {' or '.join(repr(k) for k in keys)})", path, number, keys[0])


def _text_field(record: dict, key: str, path: Path, number: int, required: bool) -> str:
    if key not in record or record[key] is None:
        if required:
            raise DatasetError("missing text", path, number, key)
        return ""
    value = record[key]
    if not isinstance(value, str):
        raise DatasetError(f"must be a string, found {type(value).__name__}", path, number, key)
    return value


class _Grouped:
    """Collects occurrences of one warning kind and reports them as one counted warning."""

    def __init__(self, kind: str, path: Path):
        self.kind, self.path, self.lines, self.examples = kind, path, [], []

    def add(self, line: int, example: str) -> None:
        self.lines.append(line)
        if len(self.examples) < _EXAMPLES:
            self.examples.append(f"line {line}: {example}")

    def emit(self, template: str, into: list[LoadWarning]) -> None:
        if not self.lines:
            return
        more = len(self.lines) - len(self.examples)
        detail = "; ".join(self.examples) + (f"; and {more} more" if more > 0 else "")
        n = len(self.lines)
        message = template.format(n=n, s="" if n == 1 else "s") + f" ({detail})"
        into.append(LoadWarning(self.kind, message, str(self.path)))


def read_corpus(path: str | Path, warnings: list[LoadWarning]) -> dict[str, Document]:
    """Read `corpus.jsonl[.gz]` (`_id`, `title`, `text`); a plain JSONL corpus may use `id` instead of `_id`.

    A folder is read as a corpus of `.txt`/`.md` files (see `textfolder`).
    """
    path = Path(path)
    if path.is_dir():
        from embedproof.datasets.textfolder import read_text_folder

        return read_text_folder(path, warnings)
    corpus: dict[str, Document] = {}
    first_line: dict[str, int] = {}
    empty = _Grouped("empty_text", path)
    for number, record in read_jsonl(path):
        doc_id = _id_field(record, ("_id", "id"), path, number)
        if doc_id in corpus:
            raise DatasetError(
                f"duplicate document id {doc_id!r} (first seen on line {first_line[doc_id]})", path, number, "_id"
            )
        doc = Document(
            doc_id, _text_field(record, "text", path, number, True), _text_field(record, "title", path, number, False)
        )
        if not doc.full_text.strip():
            empty.add(number, f"id {doc_id!r}")
        corpus[doc_id] = doc
        first_line[doc_id] = number
    if not corpus:
        raise DatasetError("corpus has no documents", path)
    empty.emit("{n} document{s} with empty text (kept; they can only be retrieved by chance)", warnings)
    return corpus


def read_queries(path: str | Path) -> dict[str, str]:
    """Read `queries.jsonl[.gz]` (`_id`, `text`); duplicate ids are an error because qrels could not tell them apart."""
    path = Path(path)
    queries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, record in read_jsonl(path):
        query_id = _id_field(record, ("_id", "id"), path, number)
        if query_id in queries:
            raise DatasetError(
                f"duplicate query id {query_id!r} (first seen on line {first_line[query_id]})", path, number, "_id"
            )
        queries[query_id] = _text_field(record, "text", path, number, True)
        first_line[query_id] = number
    return queries


def _parse_qrels_line(line: str, path: Path, number: int) -> tuple[str, str, str] | None:
    stripped = line.strip()
    if not stripped:
        return None
    parts = stripped.split("\t") if "\t" in stripped else stripped.split()
    if len(parts) == 3:  # BEIR: query-id, corpus-id, score
        return parts[0].strip(), parts[1].strip(), parts[2].strip()
    if len(parts) == 4:  # TREC: query-id, iteration, doc-id, relevance
        return parts[0].strip(), parts[2].strip(), parts[3].strip()
    raise DatasetError(
        f"expected 3 tab-separated columns (query-id, corpus-id, score), found {len(parts)}", path, number
    )


def read_qrels(
    path: str | Path, queries: dict[str, str], corpus: dict[str, Document], warnings: list[LoadWarning]
) -> dict[str, dict[str, int]]:
    """Read `qrels/<split>.tsv`, keeping graded scores; judgments naming unknown ids are counted and excluded."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    unknown_query, unknown_doc = _Grouped("unknown_query", path), _Grouped("unknown_doc", path)
    duplicates = _Grouped("duplicate_judgment", path)
    for number, line in _text_lines(path):
        parsed = _parse_qrels_line(line, path, number)
        if parsed is None:
            continue
        query_id, doc_id, score_text = parsed
        try:
            score = int(score_text)
        except ValueError:
            if number == 1:  # the BEIR header line: query-id corpus-id score
                continue
            raise DatasetError(f"score must be an integer, found {score_text!r}", path, number, "score") from None
        if query_id not in queries:
            unknown_query.add(number, f"query {query_id!r}")
            continue
        if doc_id not in corpus:
            unknown_doc.add(number, f"doc {doc_id!r}")
            continue
        judged = qrels.setdefault(query_id, {})
        if doc_id in judged:
            duplicates.add(number, f"{query_id!r}/{doc_id!r}")
            score = max(score, judged[doc_id])
        judged[doc_id] = score
    unknown_query.emit("{n} judgment{s} naming query ids not in the queries file (excluded)", warnings)
    unknown_doc.emit("{n} judgment{s} naming document ids not in the corpus (excluded)", warnings)
    duplicates.emit("{n} duplicate judgment{s} (the highest score is kept)", warnings)
    return qrels
