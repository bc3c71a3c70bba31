"""Silent truncation: how much of a corpus a model's window cuts off (search/chunking.py cuts token windows to
avoid it).

Most models silently drop every token past their window, and effective capacity is often 60-70% of the advertised
maximum (docs/latency-cost-report.md). Token lengths are counted with each model's own tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MATERIAL_SHARE = 0.05  # warn when at least 5% of documents are longer than the window
HISTOGRAM_BINS = 20


def token_lengths(tokenizer, texts: Sequence[str], batch_size: int = 1000) -> np.ndarray:
    """Tokens per text including special tokens, without truncation."""
    lengths = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(
            list(texts[start : start + batch_size]), add_special_tokens=True, truncation=False, verbose=False
        )["input_ids"]
        lengths.extend(len(ids) for ids in encoded)
    return np.asarray(lengths, dtype=np.int64)


def length_stats(lengths: np.ndarray, windows: Sequence[int]) -> dict:
    """Mean, p50/p90/p99, max and the share of documents longer than each window: the one computation behind
    `profile` and `bench`'s truncation figures, so the two print the same numbers for the same texts."""
    lengths = np.asarray(lengths, dtype=np.float64)
    if len(lengths) == 0:
        return {**dict.fromkeys(("mean", "p50", "p90", "p99", "max"), 0.0), **{f"share_over_{w}": 0.0 for w in windows}}
    return {
        "mean": float(lengths.mean()),
        **{f"p{p}": float(np.percentile(lengths, p)) for p in (50, 90, 99)},
        "max": float(lengths.max()),
        **{f"share_over_{w}": float(np.mean(lengths > w)) for w in windows},
    }


def log_histogram(lengths: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict:
    """Counts over log-spaced bins from the shortest to the longest document: one long outlier does not squeeze
    every other document into the first bar, as it does on a linear axis."""
    low, high = max(float(lengths.min()), 1.0), max(float(lengths.max()), 1.0)
    edges = np.geomspace(low, high, bins + 1) if high > low else np.array([low, low + 1.0])
    counts, edges = np.histogram(np.clip(lengths, low, None), bins=edges)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts], "scale": "log"}


def truncation_profile(lengths: np.ndarray, window: int) -> dict:
    """Length percentiles, the share over the window (and over 70% of it), and a log-spaced histogram."""
    if len(lengths) == 0:
        return {"window": window, "documents": 0}
    stats = length_stats(lengths, [window])
    return {
        "window": int(window),
        "documents": int(len(lengths)),
        "p50": stats["p50"],
        "p90": stats["p90"],
        "p99": stats["p99"],
        "max": int(lengths.max()),
        "share_over_window": stats[f"share_over_{window}"],
        "share_over_70pct_window": float(np.mean(lengths > 0.7 * window)),
        "tokens_cut": int(np.clip(lengths - window, 0, None).sum()),
        "histogram": log_histogram(lengths),
    }


def truncation_warning(
    model: str, profile: dict, hint: str = "try --chunk-tokens to measure whether chunking helps"
) -> str | None:
    share = profile.get("share_over_window", 0.0)
    if share < MATERIAL_SHARE:
        return None
    return (
        f"{model}: {share:.0%} of documents are longer than its {profile['window']}-token window "
        f"(p99 {profile['p99']:.0f} tokens) and are silently truncated; " + hint
    )


def encoder_truncation(encoder, texts: Sequence[str]) -> dict | None:
    """Token-length profile of texts under the encoder's own tokenizer and window (None without either)."""
    tokenizer = getattr(getattr(encoder, "model", None), "tokenizer", None)
    window = getattr(encoder, "max_tokens", None)
    if tokenizer is None or not window:
        return None
    return truncation_profile(token_lengths(tokenizer, texts), window)


def recipe_truncation_warnings(recipe, workspace) -> list[str]:
    """What `bench` warns for each of a recipe's dense first-pass models, for the texts an index of it encodes
    (its chunks when chunked): the share of them longer than the model's window."""
    warnings = []
    for component in recipe.components():
        model = component.model
        if component.stage != "first_pass" or component.kind != "first" or workspace.encoder(model).mode != "dense":
            continue
        space = workspace.chunked(model, recipe.chunking) if recipe.chunking else workspace
        profile = encoder_truncation(workspace.encoder(model), space.doc_texts)
        hint = (
            "use smaller chunks (chunk_tokens)"
            if recipe.chunking
            else "bench --chunk-tokens measures whether chunking helps, and builds its pick as a chunked recipe"
        )
        if profile is not None and (warning := truncation_warning(model, profile, hint)):
            warnings.append(warning)
    return warnings
