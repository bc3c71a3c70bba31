"""Every default a user may see in two places — the CLI, the Python API, the server — defined once.

Prices are assumptions printed with every result; pass your own (`--usd-per-gb-month`, `--instance-usd-per-hour`).
"""

from __future__ import annotations

from embedproof.backends import default_encoder_backend

__all__ = [
    "INSTANCE_USD_PER_HOUR",
    "RERANK_TOP",
    "RESCORE_MULTIPLIER",
    "USD_PER_GB_MONTH",
    "VERSION",
    "default_encoder_backend",
]

VERSION = "0.2.0"  # pyproject.toml's version; `embedproof.__version__`, results.json and the server report it

# Memory price per GiB-month (2**30 bytes): the one the Hugging Face embedding quantisation study used.
USD_PER_GB_MONTH = 3.8
# AWS c7i.large (2 vCPU) on-demand list price in us-east-1, for $ per 1M self-hosted queries.
INSTANCE_USD_PER_HOUR = 0.0893

# int8/binary first passes fetch this many times the candidates and rescore them with float vectors (0: no rescore).
RESCORE_MULTIPLIER = 4
# documents a reranker (MaxSim or cross-encoder) rescores per query
RERANK_TOP = 50
