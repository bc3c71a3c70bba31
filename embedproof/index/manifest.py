"""An index folder's manifest: what was built, from what, and every file's checksum; one definition for all stores.

`manifest.json` is the commit point of every write: a file counts as part of the index only once the manifest
(itself replaced atomically) lists its sha256. The embedded store, the Qdrant Edge shard, a Qdrant server
collection and `index add` all read, check ("the same build?"), lock and save it through `Manifest`, so the
stores cannot drift apart on what resuming, appending or opening means.

Fields (older manifests lack some; readers take the defaults): format, recipe, documents (live documents),
ids_sha256 (of the live ids in row order), encoder_backend ("torch"), chunk_size, files {relative path: sha256},
docs (["docs.jsonl"]), components {"kind:model": {...}}, store ({"backend": "embedded"}), complete, generation (1),
retired_rows ([]), and optionally auto_backend.

Rows: every document file in `docs` order, line by line, is one row, and row r is point r in an engine and row r
of every stored matrix. A change appends rows (new documents, and the new text of a replaced one) and retires rows
(removed documents, and the old text of a replaced one); a retired row is never searched, and its id may live on
in a later row. `generation` counts committed states: a finished build is 1 and every change adds 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embedproof.datasets.readers import read_corpus
from embedproof.errors import DatasetError, EmbedproofError
from embedproof.files import atomic_open, read_json_file
from embedproof.search.recipe import Recipe
from embedproof.types import Document

FORMAT = 1
MANIFEST = "manifest.json"
KILL_ENV = "EMBEDPROOF_TEST_KILL_AT"

_events: Counter = Counter()


def crash_point(event: str) -> None:
    """Test hook: SIGKILL this process at the n-th `event` when $EMBEDPROOF_TEST_KILL_AT is "event:n"; else nothing.

    It lets tests kill a build reproducibly inside the crash windows that matter (a chunk's temporary file half
    written; renamed but not yet in the manifest; the manifest itself half written), which a timer rarely hits.
    """
    spec = os.environ.get(KILL_ENV)
    if not spec or spec.rpartition(":")[0] != event:
        return
    _events[event] += 1
    if _events[event] == int(spec.rpartition(":")[2]):
        os.kill(os.getpid(), signal.SIGKILL)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ids_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def encoder_revision(encoder) -> str | None:
    """The weights' revision an encoder loaded (None for built-ins): what a component records and an add checks."""
    return getattr(getattr(encoder, "resolved", None), "revision", None)


def check_revision(folder: Path, component: Mapping[str, Any], encoder) -> None:
    """Refuse to add documents encoded by other weights than the component's: their scores would not compare."""
    revision = encoder_revision(encoder)
    if revision != component["revision"]:
        raise EmbedproofError(
            f"{folder}: {component['model']} is now revision {revision}, the index was built with "
            f"{component['revision']}; mixing them would make scores incomparable, so rebuild the index"
        )


def recipe_components(recipe: Recipe) -> list[tuple[str, str]]:
    """(model, what to store) for every part of the recipe that needs document-side data."""
    return list(dict.fromkeys((c.model, c.kind) for c in recipe.components() if c.kind != "cross-encoder"))


def encoder_options_for(backend: str):
    """Encoder options for every model of an index: the encoder backend it was built with (queries must match)."""
    return (lambda model: {}) if backend == "torch" else (lambda model: {"backend": backend})


@contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """One writer per index folder: a second build/add fails at once instead of racing (released even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, one writer is the user's business
        yield
        return
    fd = os.open(folder / ".lock", os.O_CREAT | os.O_RDWR, 0o644)  # an empty marker: only the lock on it matters
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise EmbedproofError(f"{folder}: another `embedproof index build`/`add` is writing this index") from exc
        yield
    finally:
        os.close(fd)


def _bad(folder: Path, field: str | None, problem: str) -> DatasetError:
    message = f"{problem}; the manifest was changed by hand or is damaged: rebuild the index"
    return DatasetError(message, folder / MANIFEST, field=field)


def inside(folder: Path, rel: object, field: str) -> None:
    """A path the manifest names is relative and stays inside the index folder, symbolic links followed: a
    hand-edited manifest must never make the index read or write anywhere else."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise _bad(folder, field, "must be a non-empty file path")
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts or "\\" in rel:
        raise _bad(folder, field, f"path {rel!r} leaves the index folder")
    root = folder.resolve()
    try:
        (root / rel).resolve().relative_to(root)
    except ValueError:
        raise _bad(folder, field, f"path {rel!r} leads outside the index folder (a symbolic link)") from None


def check_shape(folder: Path, data: object) -> None:
    """Every field a store reads has the type it reads it as, and every path in it stays inside `folder`
    (`Manifest.read` runs it, so a damaged manifest is one line naming the field, never a crash or an escape)."""
    if not isinstance(data, dict):
        raise _bad(folder, None, f"must be a JSON object, found {type(data).__name__}")
    for key, kind in (("recipe", dict), ("files", dict), ("components", dict), ("docs", list), ("store", dict)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise _bad(folder, key, f"must be {'an object' if kind is dict else 'a list'}")
    for key in ("documents", "chunk_size", "generation"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise _bad(folder, key, "must be a whole number of at least 0")
    retired = data.get("retired_rows", [])
    if not isinstance(retired, list) or any(isinstance(r, bool) or not isinstance(r, int) or r < 0 for r in retired):
        raise _bad(folder, "retired_rows", "must be a list of row numbers (whole numbers of at least 0)")
    if "encoder_backend" in data and not isinstance(data["encoder_backend"], str):
        raise _bad(folder, "encoder_backend", "must be a string")
    if "recipe" in data:
        try:
            Recipe(**data["recipe"])
        except (TypeError, ValueError) as exc:
            raise _bad(folder, "recipe", f"not a recipe ({exc})") from None
    for rel, digest in (data.get("files") or {}).items():
        inside(folder, rel, "files")
        if not isinstance(digest, str):
            raise _bad(folder, f"files.{rel}", "must be a sha256 string")
    for i, rel in enumerate(data.get("docs") or []):
        inside(folder, rel, f"docs[{i}]")
    for key, component in (data.get("components") or {}).items():
        if not isinstance(component, dict) or not isinstance(component.get("model"), str):
            raise _bad(folder, f"components.{key}", "must be an object with a model name")
        if not isinstance(component.get("chunks", []), list):
            raise _bad(folder, f"components.{key}.chunks", "must be a list")
        for i, rel in enumerate(component.get("chunks", [])):
            inside(folder, rel, f"components.{key}.chunks[{i}]")
        if component.get("calibration") is not None:
            inside(folder, component["calibration"], f"components.{key}.calibration")
    store = data.get("store") or {}
    if not isinstance(store.get("backend", ""), str):
        raise _bad(folder, "store.backend", "must be a string")
    if store.get("path") is not None and store.get("backend") != "qdrant":  # qdrant's local mode: the user's folder
        inside(folder, store["path"], "store.path")


def check_components(manifest: Manifest) -> None:
    """A finished index stores a component for every part of its recipe: a recipe edited to name another model
    than the one the vectors came from is refused instead of searched with the wrong encoder (or a KeyError)."""
    components = manifest.data.get("components") or {}
    if manifest.backend not in {"embedded"}:
        return  # the engines record their own vectors (store.vectors), checked as they open
    for model, kind in recipe_components(manifest.recipe):
        key = f"{kind}:{model}"
        if key not in components or components[key].get("model") != model:
            raise _bad(manifest.folder, "recipe", f"names {model!r} ({kind}), but no stored component holds it")


class Manifest(Mapping[str, Any]):
    """The manifest of one index folder: typed accessors over the JSON object, which round-trips unknown fields.

    It reads like the dict it was before (`manifest["files"]`), so results and callers that index it by key keep
    working; the decisions (a new build's fields, the same-build check, verification, commits) live here once.
    """

    def __init__(self, folder: str | Path, data: dict):
        self.folder = Path(folder)
        self.data = data
        # each document file's rows, read once per object: a file is never rewritten once a manifest lists it, and
        # a change reads the rows several times (plan, row count, commit), which at 1M documents is seconds each
        self._segments: dict[str, list[Document]] = {}

    # -- reading -------------------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.folder / MANIFEST

    @classmethod
    def read(cls, folder: str | Path) -> Manifest | None:
        """The manifest as it is on disk (finished or not), or None when the folder has none yet."""
        path = Path(folder) / MANIFEST
        if not path.is_file():
            return None
        try:
            data = read_json_file(path, "manifest")
        except DatasetError as exc:
            raise DatasetError(f"unreadable manifest ({str(exc).removeprefix(f'{path}: ')})", path) from exc
        check_shape(Path(folder), data)
        manifest = cls(folder, data)
        if manifest.complete:  # a finished index's recipe and components agree (`index add` reads, not opens)
            check_components(manifest)
        return manifest

    @classmethod
    def open(cls, folder: str | Path, verify: bool = True) -> Manifest:
        """The manifest of a finished index of this format, every listed file's checksum verified (any store)."""
        folder = Path(folder)
        manifest = cls.read(folder)
        if manifest is None:
            raise EmbedproofError(f"{folder}: not an embedproof index (no {MANIFEST})")
        if manifest.get("format") != FORMAT:
            raise EmbedproofError(
                f"{manifest.path}: index format {manifest.get('format')!r}, this embedproof reads {FORMAT}"
            )
        if not manifest.complete:
            raise EmbedproofError(
                f"{folder}: the build did not finish; run `embedproof index build` again with the same "
                "arguments to resume"
            )
        if verify:
            for rel, digest in manifest.files.items():
                path = folder / rel
                if not path.is_file() or file_sha256(path) != digest:
                    raise EmbedproofError(
                        f"{path}: missing or corrupted (checksum differs from the manifest); rebuild the index"
                    )
        return manifest

    @classmethod
    def new(
        cls,
        folder: str | Path,
        recipe: Recipe,
        ids: list[str],
        encoder_backend: str,
        chunk_size: int,
        store: dict | None = None,
    ) -> Manifest:
        """The manifest of a build that has not written anything yet."""
        data = {
            "format": FORMAT,
            "recipe": recipe.to_dict(),
            "documents": len(ids),
            "ids_sha256": ids_digest(ids),
            "encoder_backend": encoder_backend,
            "chunk_size": chunk_size,
            "files": {},
            "docs": [],
            "components": {},
        }
        if store is not None:
            data["store"] = store
        data["complete"] = False
        return cls(folder, data)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def setdefault(self, key: str, default: Any) -> Any:
        return self.data.setdefault(key, default)

    @property
    def recipe(self) -> Recipe:
        return Recipe(**self.data["recipe"])

    @property
    def complete(self) -> bool:
        return bool(self.data.get("complete"))

    @property
    def files(self) -> dict[str, str]:
        return self.data["files"]

    @property
    def components(self) -> dict[str, dict]:
        return self.data["components"]

    @property
    def store(self) -> dict:
        return self.data.get("store") or {"backend": "embedded"}

    @property
    def backend(self) -> str:
        return str(self.store.get("backend") or "embedded")

    @property
    def encoder_backend(self) -> str:
        return str(self.data.get("encoder_backend", "torch"))

    @property
    def docs(self) -> list[str]:
        """The document files in stored order: docs.jsonl, then one segment per `index add`."""
        return self.data.get("docs") or ["docs.jsonl"]

    @property
    def generation(self) -> int:
        """The committed state's number: 1 for a finished build, one more for every change since."""
        return int(self.data.get("generation", 1))

    @property
    def retired_rows(self) -> set[int]:
        return set(self.data.get("retired_rows") or [])

    def rows(self) -> list[Document]:
        """Every stored row in order (retired ones included): row r is point r and matrix row r in every store."""
        rows: list[Document] = []
        for rel in self.docs:
            if rel not in self._segments:
                self._segments[rel] = list(read_corpus(self.folder / rel, []).values())
            rows.extend(self._segments[rel])
        return rows

    def row_ids(self) -> list[str | None]:
        """The document id of every row, None where the row is retired (what an engine's point id maps to)."""
        retired = self.retired_rows
        return [None if r in retired else d.id for r, d in enumerate(self.rows())]

    def documents(self) -> dict[str, Document]:
        """Every live document by id, in row order (retired rows left out)."""
        retired = self.retired_rows
        return {d.id: d for r, d in enumerate(self.rows()) if r not in retired}

    def matches(
        self, recipe: Recipe, ids: list[str], encoder_backend: str, store: Mapping[str, Any] | None = None
    ) -> bool:
        """Is this the same build (recipe, corpus, encoder backend and the given store settings)?

        Recipes compare through `Recipe`, so a manifest written before a recipe field existed matches the recipe
        with that field's default.
        """
        try:
            same_recipe = Recipe(**self.data.get("recipe", {})).to_dict() == recipe.to_dict()
        except (TypeError, ValueError):
            same_recipe = False
        return (
            same_recipe
            and self.data.get("ids_sha256") == ids_digest(ids)
            and self.encoder_backend == encoder_backend
            and all(self.store.get(key) == value for key, value in (store or {}).items())
        )

    # -- writing -------------------------------------------------------------------------------------------------
    def save(self) -> None:
        """Replace the manifest atomically: a reader (or a resumed build) sees the previous one or this one, whole."""
        text = json.dumps(self.data, indent=2, ensure_ascii=False) + "\n"
        with atomic_open(self.path, "w", encoding="utf-8") as handle:
            handle.write(text[: len(text) // 2])
            crash_point("manifest-written")  # a kill here leaves the previous manifest and a stray temporary file
            handle.write(text[len(text) // 2 :])
        crash_point("manifest-saved")

    def commit_file(self, rel: str, payload: bytes, event: str = "chunk") -> None:
        """Write `payload` to folder/rel atomically, then record its sha256 (the caller saves the manifest)."""
        with atomic_open(self.folder / rel, "wb") as handle:
            handle.write(payload[: len(payload) // 2])
            crash_point(f"{event}-written")  # a kill here leaves a half-written temporary file, never a half file
            handle.write(payload[len(payload) // 2 :])
        crash_point(f"{event}-renamed")  # a kill here leaves a complete file the manifest does not know
        self.files[rel] = hashlib.sha256(payload).hexdigest()

    def write_docs(self, rel: str, docs: Iterable[Document]) -> None:
        """Commit the documents' ids, titles and texts as one JSONL file and list it among the document files."""
        docs = list(docs)
        lines = "".join(
            json.dumps({"_id": d.id, "title": d.title, "text": d.text}, ensure_ascii=False) + "\n" for d in docs
        )
        self.commit_file(rel, lines.encode("utf-8"), "docs")
        self.data.setdefault("docs", []).append(rel)
        self._segments[rel] = docs
