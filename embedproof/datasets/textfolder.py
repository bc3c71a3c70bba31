"""Read a folder of text files (`.txt`, `.md`, `.html`) as an unlabeled corpus: one file, one document.

Rules, chosen to match the JSONL readers (bad bytes are an error naming the file; recoverable oddities are
counted warnings) and to keep ids stable across machines:

- id: the path relative to the folder, `/`-separated, without the suffix (`notes/2024/plan.md` → `notes/2024/plan`);
  two files that would share an id (`a.txt` and `a.md`) are an error naming both;
- title: a Markdown file's leading `# heading` (else its front matter's `title:`), an HTML file's `<title>`;
  otherwise none. The file name is not put into the text, so names such as `doc001` never become search terms;
- markup: `.md` and `.html` files are read as a person reads them (front matter, anchors, includes, admonition
  markers, tags and link targets removed; code kept unless `drop_code`), by `markup.read_page`; a file that is
  all markup keeps its raw text, so a non-empty file never vanishes;
- text: UTF-8 (a byte-order mark is dropped); undecodable bytes or a NUL byte (a binary file) are an error with
  the file, line and byte offset;
- empty or whitespace-only files are skipped with one counted warning; other files are ignored with one counted
  warning; hidden files and folders (`.git`, `.DS_Store`) are skipped silently;
- a symbolic link whose target lies outside the folder is an error (a corpus must not read arbitrary paths);
  one inside it is read as a file, or skipped as a folder (its files are read through their real path);
- order: sorted by relative path, so two loads of the same folder give the same corpus.
"""

from __future__ import annotations

import os
from pathlib import Path

from embedproof.datasets.markup import MARKUP_SUFFIXES, read_page
from embedproof.errors import DatasetError, LoadWarning
from embedproof.types import Document

TEXT_SUFFIXES = (".txt", *MARKUP_SUFFIXES)
# A single file beyond this is almost certainly not a passage (a log, a dump); refusing it keeps memory bounded.
MAX_FILE_BYTES = 64 * 1024 * 1024


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except ValueError:
        return False


def _relative_id(relative: str, path: Path) -> str:
    stem = relative.rsplit(".", 1)[0]
    try:
        stem.encode("utf-8")
    except UnicodeEncodeError:  # Linux names are bytes; ours go into JSON and must be text
        raise DatasetError("file name is not valid UTF-8 (rename the file)", path) from None
    return stem


def _decode(data: bytes, path: Path) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise DatasetError(f"NUL byte at byte {nul}: this looks like a binary file, not text", path, line)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            f"not valid UTF-8 at byte {exc.start} ({exc.reason}); convert it, e.g. iconv -f latin1 -t utf-8", path, line
        ) from exc


def _document(doc_id: str, text: str, suffix: str, drop_code: bool) -> Document:
    page = read_page(text, suffix, drop_code)
    if not (page.title + page.text).strip():  # all markup (a lone `---`, `<br>`): the raw text, never nothing
        return Document(doc_id, text)
    return Document(doc_id, page.text, page.title, page.headings)


def _walk(root: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(relative path, file) for every candidate file in sorted order, and the relative paths of ignored files."""
    files: list[tuple[str, Path]] = []
    ignored: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        kept_dirs = []
        for name in sorted(dirnames):
            if name.startswith("."):
                continue
            sub = here / name
            if sub.is_symlink():
                if not _inside(sub, root):
                    raise DatasetError("symbolic link points outside the corpus folder", sub)
                ignored.append(sub.relative_to(root).as_posix() + "/ (link to a folder inside the corpus)")
                continue
            kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = here / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink() and not _inside(path, root):
                raise DatasetError("symbolic link points outside the corpus folder", path)
            if path.suffix.lower() in TEXT_SUFFIXES and path.is_file():
                files.append((relative, path))
            else:
                ignored.append(relative)
    files.sort(key=lambda item: item[0])
    return files, ignored


def is_text_folder(folder: str | Path) -> bool:
    """True when `folder` holds at least one `.txt`/`.md`/`.html` file (anywhere below it, hidden folders aside)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(Path(n).suffix.lower() in TEXT_SUFFIXES and not n.startswith(".") for n in filenames):
            return True
    return False


def _count(names: list[str], kind: str, what: str, root: Path, warnings: list[LoadWarning]) -> None:
    """One warning for a whole kind, with the count and three example paths."""
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        message = f"{len(names)} " + what.format(s="" if len(names) == 1 else "s") + f" ({shown})"
        warnings.append(LoadWarning(kind, message, str(root)))


def read_text_folder(folder: str | Path, warnings: list[LoadWarning], drop_code: bool = False) -> dict[str, Document]:
    """Read every `.txt`/`.md`/`.html` file below `folder` into documents (the rules: the module docstring)."""
    root = Path(folder).resolve()
    if not root.is_dir():
        raise DatasetError("not a folder", folder)
    files, ignored = _walk(root)
    corpus: dict[str, Document] = {}
    source: dict[str, str] = {}
    empty: list[str] = []
    for relative, path in files:
        doc_id = _relative_id(relative, path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise DatasetError(
                    f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for one document", path
                )
            data = path.read_bytes()
        except OSError as exc:
            raise DatasetError(f"cannot read file ({exc.strerror or exc})", path) from exc
        text = _decode(data, path)
        if not text.strip():  # skipped, so it gives no document and cannot collide with one
            empty.append(relative)
            continue
        if doc_id in corpus:
            raise DatasetError(
                f"two files give the same document id {doc_id!r} (the other is {source[doc_id]}); rename one", path
            )
        corpus[doc_id] = _document(doc_id, text, path.suffix.lower(), drop_code)
        source[doc_id] = relative
    _count(empty, "empty_file", "empty file{s} skipped", root, warnings)
    _count(ignored, "ignored_file", "file{s} not .txt/.md/.html ignored", root, warnings)
    if not corpus:
        raise DatasetError("no documents: the folder has no non-empty .txt, .md or .html files", root)
    return corpus
