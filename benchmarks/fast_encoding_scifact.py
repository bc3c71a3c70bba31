"""Issue 8: plain sentence-transformers fp32 vs embedpick's fast backends on SciFact, side by side.

Run:  HF_HUB_OFFLINE=1 python benchmarks/fast_encoding_scifact.py [--limit 500] [--backends openvino-int8,onnx-int8]
The corpus is cut into chunks and each chunk is encoded by every contender in turn (order alternating), so a
busy, shared machine slows all of them alike and the ratios stay comparable. Export/quantisation happens before
timing (it is cached). Queries are encoded by the same backend; retrieval is exact cosine; nDCG@10 comes from
embedpick's metrics (pytrec_eval). `--limit N` keeps the judged documents of the test queries plus others up to N.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from embedpick.evaluation.datasets import load_dataset
from embedpick.evaluation.latency import machine_info
from embedpick.evaluation.metrics import evaluate_run, run_from_indices
from embedpick.index.dense import dense_scores, top_k
from embedpick.models.dense import DenseEncoder

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"


def sample(dataset, limit: int | None) -> list[str]:
    """All documents, or the judged ones first, then the rest in corpus order, up to `limit`."""
    doc_ids = list(dataset.corpus)
    if not limit or limit >= len(doc_ids):
        return doc_ids
    judged = [d for q in dataset.qrels.values() for d in q if d in dataset.corpus]
    chosen = list(dict.fromkeys(judged))[:limit]
    rest = [d for d in doc_ids if d not in set(chosen)]
    return chosen + rest[: limit - len(chosen)]


def ndcg10(dataset, doc_ids, query_ids, docs: np.ndarray, queries: np.ndarray) -> float:
    indices, scores = top_k(dense_scores(queries, docs), 10)
    return evaluate_run(dataset.qrels, run_from_indices(query_ids, doc_ids, indices, scores), ["ndcg@10"])[0]["ndcg@10"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default=MINILM)
    parser.add_argument("--backends", default="openvino-int8", help="comma-separated embedpick backends to race")
    parser.add_argument("--limit", type=int, default=None, help="documents to encode (judged ones first)")
    parser.add_argument("--chunks", type=int, default=6, help="interleaving rounds")
    parser.add_argument("--output", default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)

    dataset = load_dataset(args.dataset)
    doc_ids = sample(dataset, args.limit)
    doc_texts = [dataset.corpus[d].full_text for d in doc_ids]
    query_ids = list(dataset.judged_queries)
    query_texts = [dataset.queries[q] for q in query_ids]

    torch_enc = DenseEncoder(args.model, use_cache=False)  # for the query prefix only; encoding below is plain ST
    st = torch_enc.model
    contenders = {"sentence-transformers fp32": lambda texts, prefix: st.encode(
        texts, prompt=prefix or None, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)}
    prepare = {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        start = time.perf_counter()
        enc = DenseEncoder(args.model, backend=backend, use_cache=False)
        prepare[backend] = round(time.perf_counter() - start, 1)
        contenders[f"embedpick {backend}"] = lambda texts, prefix, enc=enc: enc.fast.encode(texts, prefix, enc.normalize)

    seconds = {name: 0.0 for name in contenders}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in contenders}
    bounds = np.linspace(0, len(doc_texts), args.chunks + 1).astype(int)
    names = list(contenders)
    for round_no, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        for name in names if round_no % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            parts[name].append(np.asarray(contenders[name](doc_texts[lo:hi], torch_enc.document_prefix), np.float32))
            seconds[name] += time.perf_counter() - start
        print(f"  round {round_no + 1}/{args.chunks}: " + ", ".join(f"{n} {(hi) / seconds[n]:.1f} docs/s" for n in names), file=sys.stderr)

    base = names[0]
    rows = {}
    for name in names:
        docs = np.concatenate(parts[name])
        queries = np.asarray(contenders[name](query_texts, torch_enc.query_prefix), np.float32)
        cos = (docs * np.concatenate(parts[base])).sum(axis=1)
        rows[name] = {"docs_per_s": len(doc_ids) / seconds[name], "seconds": seconds[name], "ndcg@10": ndcg10(dataset, doc_ids, query_ids, docs, queries),
                      "cosine_to_fp32_mean": float(cos.mean()), "cosine_to_fp32_min": float(cos.min())}
    print(f"\n{args.model} on {dataset.name}: {len(doc_ids)} documents, {len(query_ids)} queries; machine {json.dumps(machine_info())}")
    print(f"{'encoder':34s} {'docs/s':>8s} {'× fp32':>7s} {'nDCG@10':>8s} {'retention':>9s} {'cos mean/min':>13s}")
    for name, row in rows.items():
        row["speedup"] = row["docs_per_s"] / rows[base]["docs_per_s"]
        row["retention"] = row["ndcg@10"] / rows[base]["ndcg@10"] if rows[base]["ndcg@10"] else None
        print(f"{name:34s} {row['docs_per_s']:8.1f} {row['speedup']:6.2f}× {row['ndcg@10']:8.4f} {row['retention']:8.2%} "
              f"{row['cosine_to_fp32_mean']:6.4f}/{row['cosine_to_fp32_min']:.4f}")
    if prepare:
        print("prepare (export + quantise on a first run, else load from the cache):", ", ".join(f"{b} {s}s" for b, s in prepare.items()))
    result = {"model": args.model, "dataset": dataset.name, "documents": len(doc_ids), "queries": len(query_ids),
              "machine": machine_info(), "results": rows, "prepare_s": prepare}
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
