"""Storage accounting: bytes per vector → index size → dollars per month, and projections to 1M…1B vectors.

Prices are per GiB-month (2**30 bytes). The default (`embedproof.defaults`) is the memory price the Hugging Face
embedding quantisation study used; pass your own for disk or a managed vector database.
"""

from __future__ import annotations

import re

from embedproof.defaults import INSTANCE_USD_PER_HOUR, USD_PER_GB_MONTH
from embedproof.errors import InvalidInputError
from embedproof.vectors.quantize import PRECISIONS, bytes_per_vector

DEFAULT_USD_PER_GB_MONTH = USD_PER_GB_MONTH
GIB = 1 << 30
PROJECTION_SIZES = (1_000_000, 100_000_000, 1_000_000_000)
_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9}


def parse_count(text: str | int) -> int:
    """'100M' → 100,000,000; '1.5B', '250k', '1e6' and plain integers also work."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmbg]?)\s*", str(text).lower())
    if not match or float(match.group(1)) == float("inf"):  # '1e400' parses, as infinity
        raise InvalidInputError(f"not a vector count: {text!r} (examples: 1000000, 250k, 100M, 1B)")
    count = int(round(float(match.group(1)) * _SUFFIX[match.group(2)]))
    if count < 1:  # a table of zeros answers nothing
        raise InvalidInputError(f"not a vector count: {text!r} is less than one vector (examples: 1000000, 250k)")
    return count


def readable_bytes(n: float) -> str:
    """A size in the largest binary unit that keeps it at least 1: `175 B`, `41.0 KiB`, `1.79 GiB`, `1,144 GiB`."""
    value, unit = float(n), "B"
    for name, size in (("GiB", GIB), ("MiB", 1 << 20), ("KiB", 1 << 10)):  # GiB at most: budgets are in GiB
        if n >= size:
            value, unit = n / size, name
            break
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def storage_usd_month(n_vectors: int, bytes_each: float, usd_per_gb_month: float = DEFAULT_USD_PER_GB_MONTH) -> float:
    return n_vectors * bytes_each / GIB * usd_per_gb_month


def cost_row(dim: int, precision: str, n_vectors: int, usd_per_gb_month: float = DEFAULT_USD_PER_GB_MONTH) -> dict:
    each = bytes_per_vector(dim, precision)
    return {
        "dim": dim,
        "precision": precision,
        "vectors": n_vectors,
        "bytes_per_vector": each,
        "total_gib": n_vectors * each / GIB,
        "usd_per_month": storage_usd_month(n_vectors, each, usd_per_gb_month),
        "usd_per_gb_month": usd_per_gb_month,
    }


def projection_table(
    dim: int, precisions=PRECISIONS, sizes=PROJECTION_SIZES, usd_per_gb_month: float = DEFAULT_USD_PER_GB_MONTH
) -> list[dict]:
    """One row per precision and corpus size: what the same vectors cost as the corpus grows."""
    return [cost_row(dim, p, n, usd_per_gb_month) for p in precisions for n in sizes]


DEFAULT_INSTANCE_USD_PER_HOUR = INSTANCE_USD_PER_HOUR  # an assumption printed with every result
DEFAULT_UTILISATION = 0.5


def query_cost(
    queries_per_s: float | None,
    instance_usd_per_hour: float = DEFAULT_INSTANCE_USD_PER_HOUR,
    utilisation: float = DEFAULT_UTILISATION,
) -> dict:
    """$ per 1M queries for a self-hosted set-up, from measured throughput and the instance price.

    At `utilisation` (the share of the instance's time spent serving), 1M queries take 1e6 / (qps · utilisation)
    seconds of instance time.
    """
    usd = None if not queries_per_s else 1e6 / (queries_per_s * utilisation) / 3600.0 * instance_usd_per_hour
    return {
        "usd_per_1m_queries": usd,
        "assumptions": {
            "instance_usd_per_hour": instance_usd_per_hour,
            "utilisation": utilisation,
            "throughput_basis": THROUGHPUT_BASIS,
        },
    }


# What the two prices rest on. `embedproof serve` batches concurrent requests dynamically; its load test
# (docs/serving.md) reached 70-84% of the in-process batch throughput with all-MiniLM-L6-v2 at 16-64 clients.
THROUGHPUT_BASIS = (
    "usd_per_1m_queries: measured 100-query batches in process (what a server that batches "
    "concurrent requests approaches); usd_per_1m_queries_one_at_a_time: queries served one by one "
    "(the mean online latency), the cost without batching"
)


def serving_costs(
    queries_per_s: float | None, mean_online_ms: float | None, instance_usd_per_hour: float, utilisation: float
) -> dict:
    """Both prices of 1M queries: at the batch throughput and one query at a time (see THROUGHPUT_BASIS)."""
    cost = query_cost(queries_per_s, instance_usd_per_hour, utilisation)
    single = query_cost(1000.0 / mean_online_ms if mean_online_ms else None, instance_usd_per_hour, utilisation)
    cost["usd_per_1m_queries_one_at_a_time"] = single["usd_per_1m_queries"]
    return cost


def hosted_query_cost(tokens_per_query: float, usd_per_1m_tokens: float) -> dict:
    """$ per 1M queries for a hosted embedding API: tokens per query × the card's list price per 1M tokens."""
    return {
        "usd_per_1m_queries": tokens_per_query * usd_per_1m_tokens,
        "assumptions": {"usd_per_1m_tokens": usd_per_1m_tokens, "tokens_per_query": tokens_per_query},
    }
