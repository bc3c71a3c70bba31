"""Plain sentence-transformers fp32 vs embedproof's fast backends on SciFact, side by side.

Run:  HF_HUB_OFFLINE=1 python benchmarks/fast_encoding_scifact.py [--limit 500] [--backends openvino-int8,onnx-int8]
                                   [--latency 200]
The corpus is cut into chunks and each chunk is encoded by every contender in turn (order alternating), so a
busy, shared machine slows all of them alike and the ratios stay comparable. Export/quantisation happens before
timing (it is cached). Queries are encoded by the same backend; retrieval is exact cosine; nDCG@10 comes from
embedproof's metrics (pytrec_eval). `--limit N` keeps the judged documents of the test queries plus others up to N.
Each contender's useful multiply-accumulates per second (real tokens only, no padding: 12·h² per token per layer
for the projections and FFN, 2·h per token pair for attention) compare with the CPU's peak (benchmarks/cpu_peak.py).
`--latency N` times N single queries per contender, interleaved, for p50/p99. The 1-minute load average is printed
before and after: another process on the same cores slows every contender, but not always by the same factor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from embedproof.datasets.loading import load_dataset
from embedproof.evaluation.latency import machine_info
from embedproof.evaluation.metrics import evaluate_run
from embedproof.models.dense import DenseEncoder
from embedproof.search.dense import dense_scores, run_from_indices, top_k

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


def useful_macs(tokenizer, texts: list[str], max_tokens: int, config) -> int:
    """Multiply-accumulates a BERT encoder needs for `texts` without padding (projections, FFN, attention)."""
    lengths = np.array(
        [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_tokens)["input_ids"]], np.int64
    )
    h, layers, ffn = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    return int(layers * ((4 * h * h + 2 * h * ffn) * lengths.sum() + 2 * h * (lengths**2).sum()))


def single_query_latency(contenders: dict, texts: list[str], prefix: str, count: int, block: int = 25) -> dict:
    """p50/p99 milliseconds of encoding one query at a time; contenders take turns in blocks of `block` queries.

    Blocks, not single queries, because a runtime's worker threads keep spinning for a moment after a call and
    would slow whichever contender ran next.
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    texts = texts[:count]
    for round_no, lo in enumerate(range(0, len(texts), block)):
        for name in names if round_no % 2 == 0 else names[::-1]:
            for i, text in enumerate([texts[0]] * 3 + texts[lo : lo + block]):  # 3 untimed calls first
                start = time.perf_counter()
                contenders[name]([text], prefix)
                if i >= 3:
                    times[name].append((time.perf_counter() - start) * 1000)
    return {
        name: {
            "p50_ms": round(float(np.percentile(t, 50)), 2),
            "p99_ms": round(float(np.percentile(t, 99)), 2),
            "queries": len(t),
        }
        for name, t in times.items()
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default=MINILM)
    parser.add_argument("--backends", default="openvino-int8", help="comma-separated embedproof backends to race")
    parser.add_argument("--limit", type=int, default=None, help="documents to encode (judged ones first)")
    parser.add_argument("--chunks", type=int, default=6, help="interleaving rounds")
    parser.add_argument("--latency", type=int, default=0, help="single-query latency over this many queries (0: skip)")
    parser.add_argument("--output", default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)

    dataset = load_dataset(args.dataset)
    doc_ids = sample(dataset, args.limit)
    doc_texts = [dataset.corpus[d].full_text for d in doc_ids]
    query_ids = list(dataset.judged_queries)
    query_texts = [dataset.queries[q] for q in query_ids]

    torch_enc = DenseEncoder(args.model, use_cache=False)  # for the query prefix only; encoding below is plain ST
    st = torch_enc.model
    contenders = {
        "sentence-transformers fp32": lambda texts, prefix: st.encode(
            texts,
            prompt=prefix or None,
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    }
    prepare = {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        start = time.perf_counter()
        enc = DenseEncoder(args.model, backend=backend, use_cache=False)
        prepare[backend] = round(time.perf_counter() - start, 1)
        label = f"embedproof {backend}" + (f" → {enc.backend}" if backend == "auto" else "")
        if enc.fast is None:  # auto chose torch
            contenders[label] = contenders["sentence-transformers fp32"]
        else:
            contenders[label] = lambda texts, prefix, enc=enc: enc.fast.encode(texts, prefix, enc.normalize)
        if enc.auto_backend:
            print(f"auto: {json.dumps(enc.auto_backend)}", file=sys.stderr)

    load_before = os.getloadavg()[0]
    seconds = {name: 0.0 for name in contenders}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in contenders}
    bounds = np.linspace(0, len(doc_texts), args.chunks + 1).astype(int)
    names = list(contenders)
    for round_no, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        for name in names if round_no % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            parts[name].append(np.asarray(contenders[name](doc_texts[lo:hi], torch_enc.document_prefix), np.float32))
            seconds[name] += time.perf_counter() - start
        print(
            f"  round {round_no + 1}/{args.chunks}: " + ", ".join(f"{n} {(hi) / seconds[n]:.1f} docs/s" for n in names),
            file=sys.stderr,
        )

    load_after = os.getloadavg()[0]
    macs = useful_macs(
        st.tokenizer,
        [torch_enc.document_prefix + t for t in doc_texts],
        int(st.max_seq_length),
        st[0].auto_model.config,
    )
    latency = (
        single_query_latency(contenders, query_texts, torch_enc.query_prefix, args.latency) if args.latency else {}
    )
    base = names[0]
    rows = {}
    for name in names:
        docs = np.concatenate(parts[name])
        queries = np.asarray(contenders[name](query_texts, torch_enc.query_prefix), np.float32)
        cos = (docs * np.concatenate(parts[base])).sum(axis=1)
        rows[name] = {
            "docs_per_s": len(doc_ids) / seconds[name],
            "seconds": seconds[name],
            "ndcg@10": ndcg10(dataset, doc_ids, query_ids, docs, queries),
            "cosine_to_fp32_mean": float(cos.mean()),
            "cosine_to_fp32_min": float(cos.min()),
            "useful_gmac_per_s": macs / seconds[name] / 1e9,
            **latency.get(name, {}),
        }
    print(
        f"\n{args.model} on {dataset.name}: {len(doc_ids)} documents, {len(query_ids)} queries; "
        f"machine {json.dumps(machine_info())}"
    )
    print(
        f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after the timed rounds; "
        f"{macs / len(doc_ids) / 1e9:.3f} GMAC per document"
    )
    print(
        f"{'encoder':40s} {'docs/s':>8s} {'× fp32':>7s} {'nDCG@10':>8s} {'retention':>9s} {'cos mean/min':>13s} "
        f"{'GMAC/s':>7s} {'q p50/p99 ms':>13s}"
    )
    for name, row in rows.items():
        row["speedup"] = row["docs_per_s"] / rows[base]["docs_per_s"]
        row["retention"] = row["ndcg@10"] / rows[base]["ndcg@10"] if rows[base]["ndcg@10"] else None
        lat = f"{row['p50_ms']:.1f}/{row['p99_ms']:.1f}" if "p50_ms" in row else "-"
        print(
            f"{name:40s} {row['docs_per_s']:8.1f} {row['speedup']:6.2f}× {row['ndcg@10']:8.4f} {row['retention']:8.2%} "
            f"{row['cosine_to_fp32_mean']:6.4f}/{row['cosine_to_fp32_min']:.4f} "
            f"{row['useful_gmac_per_s']:7.1f} {lat:>13s}"
        )
    if prepare:
        print(
            "prepare (export + quantise on a first run, else load from the cache):",
            ", ".join(f"{b} {s}s" for b, s in prepare.items()),
        )
    result = {
        "model": args.model,
        "dataset": dataset.name,
        "documents": len(doc_ids),
        "queries": len(query_ids),
        "machine": machine_info(),
        "results": rows,
        "prepare_s": prepare,
        "load_1min": [round(load_before, 2), round(load_after, 2)],
        "gmac_per_document": macs / len(doc_ids) / 1e9,
    }
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
