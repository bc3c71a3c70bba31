"""Download official BEIR zips into the cache, once, atomically.

Offline machines get an error naming the alternative (a local folder), never a hang or a half-extracted folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from embedproof.errors import DatasetError
from embedproof.files import cache_root

# The datasets the BEIR authors publish as zips (Thakur et al. 2021).
BEIR_DATASETS = frozenset(
    "msmarco trec-covid nfcorpus nq hotpotqa fiqa arguana webis-touche2020 cqadupstack quora dbpedia-entity "
    "scidocs fever climate-fever scifact".split()
)
BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"


def _url(name: str) -> str:
    # EMBEDPROOF_BEIR_URL lets a mirror (or a test server on loopback) stand in for the official host.
    return os.environ.get("EMBEDPROOF_BEIR_URL", BEIR_URL).format(name=name)


def fetch_beir(name: str, cache_dir: str | Path | None = None, timeout: float = 60.0) -> Path:
    """Return the cached folder of BEIR dataset `name`, downloading and extracting it first if needed."""
    if name not in BEIR_DATASETS:
        raise DatasetError(f"unknown BEIR dataset (known: {', '.join(sorted(BEIR_DATASETS))})", name)
    root = cache_root(cache_dir) / "datasets"
    target = root / name
    if _has_corpus(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    url = _url(name)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}.") as tmp:
        archive = Path(tmp) / f"{name}.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DatasetError(
                f"could not download BEIR dataset {name!r} from {url} ({reason}). If this machine is offline, "
                f"download {name}.zip elsewhere, unzip it and pass the folder instead: --dataset /path/to/{name} "
                f"(a BEIR folder with corpus.jsonl, queries.jsonl and qrels/test.tsv)",
                name,
            ) from exc
        try:
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(Path(tmp) / "x")
        except zipfile.BadZipFile as exc:
            raise DatasetError(f"downloaded file is not a valid zip ({exc})", url) from exc
        extracted = Path(tmp) / "x" / name
        if not extracted.is_dir():  # some mirrors zip the files without the top folder
            extracted = Path(tmp) / "x"
        if not _has_corpus(extracted):
            raise DatasetError("downloaded zip has no corpus.jsonl", url)
        if _has_corpus(target):  # another process finished the same download first
            return target
        if target.exists():  # a leftover without a corpus (interrupted by hand, say): not a dataset, replace it
            shutil.rmtree(target)
        os.replace(extracted, target)
    return target


def _has_corpus(folder: Path) -> bool:
    return (folder / "corpus.jsonl").is_file() or (folder / "corpus.jsonl.gz").is_file()
