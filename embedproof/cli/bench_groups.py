"""bench's options as typed groups (encoding, cost, statistics) and the checks typer's `min=` cannot say, each run
on the command's options (`locals()`) before any data is loaded."""

from __future__ import annotations

from embedproof.backends import default_encoder_backend, split_backends
from embedproof.cli.common import check_modes, in_range, non_empty, writable_file, writable_folder
from embedproof.errors import InvalidInputError

__all__ = ["check_bench_options", "cost", "encoding", "statistics"]


def encoding(o: dict):
    """--batch-size, --max-tokens, the prefixes, the cache and the encoder --backend values."""
    from embedproof.evaluation.bench_options import EncodingOptions

    encoders = [value for value in o["backend"] or [] if value.strip().lower() != "edge"]
    return EncodingOptions(
        o["batch_size"],
        o["max_tokens"],
        o["query_prefix"],
        o["document_prefix"],
        o["cache_dir"],
        not o["no_cache"],
        [split_backends([value], stores=False)[0] for value in encoders] or [default_encoder_backend()],
    )


def cost(o: dict):
    """--usd-per-gb-month, --instance-usd-per-hour and --utilisation, each checked."""
    from embedproof.evaluation.bench_options import CostOptions

    in_range(o["usd_per_gb_month"], "--usd-per-gb-month", low=0)
    in_range(o["instance_usd_per_hour"], "--instance-usd-per-hour", low=0)
    in_range(o["utilisation"], "--utilisation", low=0, high=1, low_open=True)
    return CostOptions(o["usd_per_gb_month"], o["instance_usd_per_hour"], o["utilisation"])


def statistics(o: dict):
    """The resamples, seed and --alpha of every interval and paired test."""
    from embedproof.evaluation.statistics import StatsSettings

    in_range(o["alpha"], "--alpha", low=0, high=1, low_open=True, high_open=True)
    return StatsSettings(
        bootstrap_resamples=o["bootstrap_resamples"],
        permutation_resamples=o["permutation_resamples"],
        seed=o["seed"],
        alpha=o["alpha"],
    )


def check_bench_options(o: dict) -> None:
    """What typer's `min=` cannot say about bench's options, checked before any data is loaded."""
    for option in ("dataset", "split", "corpus", "tune_on"):
        non_empty(o[option], "--" + option.replace("_", "-"))
    for name in o["model"] or []:
        non_empty(name, "--model")
    cost(o)  # prices and --alpha are checked with the rest, before any data is loaded
    statistics(o)
    in_range(o["latency_budget"], "--latency-budget", low=0, low_open=True)
    if o["chunk_tokens"] is not None and o["chunk_overlap"] >= o["chunk_tokens"]:
        raise InvalidInputError(
            f"--chunk-overlap: must be smaller than --chunk-tokens ({o['chunk_tokens']}), got {o['chunk_overlap']}"
        )
    if o["tune_on"] is not None and o["tune_on"] == o["split"]:
        raise InvalidInputError(
            f"--tune-on: {o['tune_on']!r} is the split being scored (--split); tune on another split, e.g. train"
        )
    if o["baseline"] is None:
        for option in ("pair", "latency_budget"):
            if o[option]:
                raise InvalidInputError(f"--{option.replace('_', '-')}: only means something with --baseline")
    check_modes(o["mode"])
    reranker = o["reranker"]
    if reranker is not None and (
        reranker.partition(":")[0] not in {"maxsim", "cross-encoder"} or not reranker.partition(":")[2].strip()
    ):
        raise InvalidInputError(f"--reranker: expected maxsim:MODEL or cross-encoder:MODEL, got {reranker!r}")
    writable_file(o["output"], "--output")
    writable_folder(o["run_dir"], "--run-dir")
    writable_folder(o["cache_dir"], "--cache-dir")
