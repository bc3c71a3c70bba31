"""Load benchmark for a live index: clients search over HTTP while documents are added, replaced and removed.

One run, on one index served by `embedproof serve --writable` in a subprocess:
- a baseline: `--clients` closed-loop clients (one `POST /search` in flight each) for `--seconds`, no changes;
- the same clients again while 10 adds, 5 replaces and 5 removes are applied one after another (each a generation),
  every other one of each kind over HTTP (`POST /documents`, `DELETE /documents/{id}`) and the others from another
  process (`embedproof index add`/`remove`, or with `--other python` a Python process calling `forward_change`,
  then `apply_change` when no server holds the folder);
- after the last commit, every query once more, against a fresh build of the final corpus.

What it checks, and exits 1 on:
- errors: any answer that is not a 200, or a transport error;
- consistency: every answer names its generation (`X-Embedproof-Generation`) and returns only documents live in
  that generation. On an exact store (embedded) the rule is stronger: each copy of the folder taken right after a
  commit is opened offline, and every answer must equal the answer its generation gives offline for the same query
  (same scores within 1e-5, same documents in every score group but the one cut by top_k), so no removed document
  is present and none that its generation holds is missing;
- the final documents: the index's live documents equal the final corpus (ids, titles, texts);
- the final rankings: on an exact store equal to a fresh build's for every query (the same rule); on the engine
  (edge) a mean top-10 overlap of at least `--min-overlap`, reported beside the overlap of a second fresh build
  with the first (the engine's own spread: two builds of one corpus differ too). The fresh build takes the final
  corpus in the index's row order (a replaced document's new text is a new row at the end): a first pass breaks
  exact ties by row, and RRF turns a tie's order into different fused scores.
It prints the p50/p99 during the changes beside the baseline's, and how long each change took.

    python benchmarks/live_index.py                       # demo corpus, hashing + BM25 hybrid, embedded store
    python benchmarks/live_index.py --store edge --other python
    python benchmarks/live_index.py --dataset ../shared/datasets/scifact --seconds 20
"""

# No `from __future__ import annotations`: the tests load this file as a module that is not in sys.modules, where
# dataclasses cannot resolve string annotations.
import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_serve import Server  # noqa: E402
from loadgen import TRANSPORT_ERRORS, Connection  # noqa: E402

KEY = "live-index-benchmark"
TOL = 1e-5


@dataclass
class Change:
    kind: str  # add, replace, remove
    via: str  # http, other
    docs: dict = field(default_factory=dict)  # id -> Document (add, replace)
    ids: list = field(default_factory=list)  # remove
    generation: int | None = None
    seconds: float | None = None


def plan_changes(corpus: dict, adds: int, replaces: int, removes: int, seed: int = 0) -> tuple[dict, list[Change]]:
    """The base corpus and the changes: `adds` held-out documents, `replaces` base documents given the text of a
    spare held-out one (under their own title), `removes` other base documents; each kind alternates HTTP and
    another process, and the kinds are interleaved."""
    from embedproof.types import Document

    rng = random.Random(seed)
    ids = list(corpus)
    held = ids[len(ids) - adds - replaces :]
    base = {i: corpus[i] for i in ids[: len(ids) - adds - replaces]}
    added, spares = held[:adds], held[adds:]
    touched = rng.sample(list(base), replaces + removes)
    kinds = {
        "add": [Change("add", "", docs={i: corpus[i]}) for i in added],
        "replace": [
            Change("replace", "", docs={i: Document(i, corpus[s].text, base[i].title)})
            for i, s in zip(touched[:replaces], spares)
        ],
        "remove": [Change("remove", "", ids=[i]) for i in touched[replaces:]],
    }
    for changes in kinds.values():
        for n, change in enumerate(changes):
            change.via = "http" if n % 2 == 0 else "other"
    order: list[Change] = []
    while any(kinds.values()):
        for changes in kinds.values():
            if changes:
                order.append(changes.pop(0))
    return base, order


def final_corpus(base: dict, changes: list[Change]) -> dict:
    corpus = dict(base)
    for change in changes:
        corpus.update(change.docs)
        for i in change.ids:
            del corpus[i]
    return corpus


def _jsonl(docs: dict, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for d in docs.values():
            out.write(json.dumps({"_id": d.id, "title": d.title, "text": d.text}, ensure_ascii=False) + "\n")
    return path


def apply_over_http(url: str, change: Change) -> int:
    headers = {"X-API-Key": KEY}
    if change.kind == "remove":
        response = httpx.delete(f"{url}/documents/{change.ids[0]}", headers=headers, timeout=600)
    else:
        docs = [{"id": d.id, "title": d.title, "text": d.text} for d in change.docs.values()]
        body = {"documents": docs, "replace": change.kind == "replace"}
        response = httpx.post(f"{url}/documents", json=body, headers=headers, timeout=600)
    if response.status_code != 200:
        raise RuntimeError(f"{change.kind} over HTTP: HTTP {response.status_code} {response.text}")
    return int(response.json()["generation"])


def apply_in_other_process(folder: Path, change: Change, other: str, scratch: Path) -> None:
    """The change from another process: the CLI, or Python calling forward_change then apply_change."""
    if other == "cli":
        if change.kind == "remove":
            command = ["index", "remove", str(folder), *change.ids]
        else:
            corpus = _jsonl(change.docs, scratch / f"{change.kind}-{next(iter(change.docs))}.jsonl")
            command = ["index", "add", str(folder), "--corpus", str(corpus)]
            command += ["--replace"] if change.kind == "replace" else []
        command = [sys.executable, "-m", "embedproof", *command]
    else:
        docs = {i: [d.title, d.text] for i, d in change.docs.items()}
        code = (
            "import sys, json; from embedproof.types import Document; "
            "from embedproof.server.owner import forward_change; from embedproof.index.change import apply_change; "
            "a = json.loads(sys.argv[1]); docs = {i: Document(i, t, h) for i, (h, t) in a['docs'].items()}; "
            "args = (a['folder'], docs, a['ids'], a['replace']); "
            "forward_change(*args) or apply_change(*args)"
        )
        payload = {"folder": str(folder), "docs": docs, "ids": change.ids, "replace": change.kind == "replace"}
        command = [sys.executable, "-c", code, json.dumps(payload)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{change.kind} in another process exited {done.returncode}: {done.stderr[-2000:]}")


@dataclass
class Answer:
    query: int
    began: float
    seconds: float
    generation: int | None = None
    ranking: list = field(default_factory=list)  # (id, score)
    error: str | None = None


async def search_load(port: int, clients: int, bodies: list[bytes], stop: asyncio.Event) -> list[Answer]:
    """`clients` connections, each keeping one `/search` in flight, until `stop` is set."""
    answers: list[Answer] = []

    async def client(n: int) -> None:
        conn = Connection(port, {"x-api-key": KEY})
        i = n
        while not stop.is_set():
            q = i % len(bodies)
            began = time.perf_counter()
            try:
                status, headers, body = await conn.post_read("/search", bodies[q])
            except TRANSPORT_ERRORS as exc:
                answers.append(Answer(q, began, time.perf_counter() - began, error=type(exc).__name__))
                conn.close()
                continue
            answer = Answer(q, began, time.perf_counter() - began)
            if status != 200:
                answer.error = f"HTTP {status}"
            else:
                answer.generation = int(headers["x-embedproof-generation"])
                answer.ranking = [(r["id"], r["score"]) for r in json.loads(body)["results"]]
            answers.append(answer)
            i += clients
        conn.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return answers


def same_ranking(got: list, expected: list, tol: float = TOL) -> bool:
    """Equal rankings, ties allowed: the same scores position by position (within `tol`), and the same documents in
    every group of tied scores except the last one, which top_k may cut anywhere."""
    if len(got) != len(expected):
        return False
    if any(abs(a[1] - b[1]) > tol for a, b in zip(got, expected)):
        return False
    start = 0
    while start < len(got):
        end = start + 1
        while end < len(got) and abs(got[end][1] - got[start][1]) <= tol:
            end += 1
        if end < len(got) and {i for i, _ in got[start:end]} != {i for i, _ in expected[start:end]}:
            return False
        start = end
    return True


def overlap(got: list, expected: list) -> float:
    return len({i for i, _ in got} & {i for i, _ in expected}) / max(1, len(expected))


def offline(folder: Path, queries: list[str], top_k: int) -> list[list]:
    from embedproof.index.access import live_queries, open_index

    index = open_index(folder)
    live_queries(index)
    try:
        answers = index.search_many(queries, top_k)
    finally:
        close = getattr(index, "close", None)
        if close is not None:
            close()
    return [[(r["id"], r["score"]) for r in a["results"]] for a in answers]


def latency(answers: list[Answer]) -> dict:
    ms = np.array([a.seconds for a in answers if a.error is None] or [0.0]) * 1000
    return {
        "answers": len(answers),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 1),
    }


def run(
    dataset: str = "demo",
    dense: str = "hashing",
    store: str = "embedded",
    clients: int = 16,
    seconds: float = 10.0,
    adds: int = 10,
    replaces: int = 5,
    removes: int = 5,
    gap_s: float = 0.5,
    other: str = "cli",
    top_k: int = 10,
    workdir: Path | None = None,
    min_overlap: float = 0.9,
) -> dict:
    from embedproof.datasets.loading import load_dataset
    from embedproof.index.access import build_index
    from embedproof.index.manifest import Manifest
    from embedproof.search.recipe import standard_recipe

    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="embedproof-live-") as scratch:
            return run(
                dataset,
                dense,
                store,
                clients,
                seconds,
                adds,
                replaces,
                removes,
                gap_s,
                other,
                top_k,
                Path(scratch),
                min_overlap,
            )
    work = Path(workdir)
    data = load_dataset(dataset)
    queries = list(data.queries.values())
    bodies = [json.dumps({"query": q, "top_k": top_k}).encode() for q in queries]
    recipe = standard_recipe("hybrid", dense, "bm25")
    base, changes = plan_changes(data.corpus, adds, replaces, removes)
    folder = work / "index"
    build_index(recipe, base, folder, chunk_size=128, store_backend=store)
    exact = store == "embedded"
    live = {1: set(base)}
    snapshots = work / "generations"

    def snapshot(generation: int) -> None:
        live[generation] = set(Manifest.read(folder).documents())
        if exact:  # the folder as committed: opened offline afterwards, the reference for this generation
            shutil.copytree(folder, snapshots / str(generation), ignore=shutil.ignore_patterns(".lock", ".serving*"))

    snapshot(1)
    server = Server(folder, api_key=KEY, args=("--writable",))
    try:

        async def phase(length_s: float | None) -> list[Answer]:
            """The clients for `length_s` seconds, or (None) while the changes are applied."""
            stop = asyncio.Event()
            load = asyncio.ensure_future(search_load(server.port, clients, bodies, stop))
            if length_s is None:
                await asyncio.sleep(gap_s)
                await asyncio.get_running_loop().run_in_executor(None, apply_all)
                await asyncio.sleep(gap_s)
            else:
                await asyncio.sleep(length_s)
            stop.set()
            return await load

        def apply_all() -> None:
            for change in changes:
                started = time.perf_counter()
                if change.via == "http":
                    apply_over_http(server.url, change)
                else:
                    apply_in_other_process(folder, change, other, work)
                change.seconds = time.perf_counter() - started
                change.generation = Manifest.read(folder).generation
                snapshot(change.generation)
                time.sleep(gap_s)

        asyncio.run(phase(min(2.0, seconds)))  # warm-up: connections, batch shapes, allocator
        baseline = asyncio.run(phase(seconds))
        during = asyncio.run(phase(None))
        last = changes[-1].generation if changes else 1
        health = httpx.get(server.url + "/health").json()
        final_served = asyncio.run(_each_once(server.port, bodies))
    finally:
        server.stop()

    errors = Counter(a.error for a in baseline + during + final_served if a.error is not None)
    unknown = [a for a in during if a.error is None and a.generation not in live]
    not_live = [a for a in during if a.error is None and a.generation in live and not _live_only(a, live)]
    mismatched = []
    if exact:
        expected = {g: offline(snapshots / str(g), queries, top_k) for g in sorted(live)}
        mismatched = [
            a
            for a in during
            if a.error is None
            and a.generation in expected
            and not same_ranking(a.ranking, expected[a.generation][a.query])
        ]
    # The fresh build takes the final corpus in the index's row order: a first pass breaks exact score ties by row,
    # and RRF carries a tie's order into the fused scores, so another order can move a fused score by one rank.
    in_rows = Manifest.read(folder).documents()
    expected_corpus = final_corpus(base, changes)
    same_corpus = in_rows.keys() == expected_corpus.keys() and all(
        (d.title, d.text) == (expected_corpus[i].title, expected_corpus[i].text) for i, d in in_rows.items()
    )
    fresh = offline(_fresh(recipe, in_rows, work / "fresh", store), queries, top_k)
    served = {a.query: a.ranking for a in final_served if a.error is None}
    overlaps = [overlap(served.get(q, []), fresh[q]) for q in range(len(queries))]
    final = {
        "generation": health["generation"],
        "documents": health["documents"],
        "expected_generation": last,
        "expected_documents": len(expected_corpus),
        "documents_equal_the_final_corpus": same_corpus,
        "queries_equal": sum(same_ranking(served.get(q, []), fresh[q]) for q in range(len(queries))),
        "queries": len(queries),
        "top10_overlap_mean": round(float(np.mean(overlaps)), 4),
        "top10_overlap_min": round(float(min(overlaps)), 4),
    }
    if not exact:  # the engine's own spread: a second fresh build of the same corpus against the first
        again = offline(_fresh(recipe, in_rows, work / "fresh-again", store), queries, top_k)
        spread = [overlap(again[q], fresh[q]) for q in range(len(queries))]
        final["fresh_build_again"] = {
            "queries_equal": sum(same_ranking(again[q], fresh[q]) for q in range(len(queries))),
            "top10_overlap_mean": round(float(np.mean(spread)), 4),
            "top10_overlap_min": round(float(min(spread)), 4),
        }
    generations = Counter(a.generation for a in during if a.error is None)
    report = {
        "dataset": dataset,
        "documents": len(base),
        "recipe": recipe.name,
        "dense": dense,
        "store": store,
        "clients": clients,
        "queries": len(queries),
        "changes": [
            {
                "kind": c.kind,
                "via": c.via if c.via == "http" else other,
                "generation": c.generation,
                "seconds": round(c.seconds, 2),
            }
            for c in changes
        ],
        "baseline": latency(baseline),
        "during_changes": latency(during),
        "generations_answered": len(generations),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "answers_from_unknown_generation": len(unknown),
        "answers_with_a_document_not_live": len(not_live),
        "answers_unequal_to_their_generation_offline": len(mismatched) if exact else None,
        "final": final,
    }
    ok_final = (
        final["generation"] == last
        and final["documents"] == final["expected_documents"]
        and same_corpus
        and (final["queries_equal"] == final["queries"] if exact else final["top10_overlap_mean"] >= min_overlap)
    )
    report["ok"] = bool(report["errors"] == 0 and not unknown and not not_live and not mismatched and ok_final)
    return report


def _live_only(answer: Answer, live: dict) -> bool:
    return all(i in live[answer.generation] for i, _ in answer.ranking)


def _fresh(recipe, corpus: dict, folder: Path, store: str) -> Path:
    from embedproof.index.access import build_index

    build_index(recipe, corpus, folder, chunk_size=128, store_backend=store)
    return folder


async def _each_once(port: int, bodies: list[bytes]) -> list[Answer]:
    conn = Connection(port, {"x-api-key": KEY})
    answers = []
    for q, body in enumerate(bodies):
        began = time.perf_counter()
        status, headers, raw = await conn.post_read("/search", body)
        answer = Answer(q, began, time.perf_counter() - began)
        if status != 200:
            answer.error = f"HTTP {status}"
        else:
            answer.generation = int(headers["x-embedproof-generation"])
            answer.ranking = [(r["id"], r["score"]) for r in json.loads(raw)["results"]]
        answers.append(answer)
    conn.close()
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--dense", default="hashing", help="the hybrid recipe's dense model (BM25 is the other)")
    parser.add_argument("--store", default="embedded", choices=["embedded", "edge"])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="the baseline's length")
    parser.add_argument("--adds", type=int, default=10)
    parser.add_argument("--replaces", type=int, default=5)
    parser.add_argument("--removes", type=int, default=5)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between two changes")
    parser.add_argument("--other", default="cli", choices=["cli", "python"], help="how the other process changes")
    parser.add_argument("--min-overlap", type=float, default=0.9, help="the engine's least mean top-10 overlap")
    parser.add_argument("--out", type=Path, help="also write the report here (JSON)")
    args = parser.parse_args(argv)
    report = run(
        args.dataset,
        args.dense,
        args.store,
        args.clients,
        args.seconds,
        args.adds,
        args.replaces,
        args.removes,
        args.gap,
        args.other,
        min_overlap=args.min_overlap,
    )
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
