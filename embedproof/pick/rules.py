"""`embedproof pick`: the embedding picker as rules over model cards, plus evidence mode (docs/picking.md).

Rules mode turns a corpus profile, a deployment target and budgets into the five outputs (model, dimension,
mode, prefix, evaluation plan) with a reason each, refusing what docs/picking.md refuses. Evidence mode (picking among
measured runs) is evidence_pick.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from embedproof.errors import EmbedproofError
from embedproof.evaluation.cost import GIB, readable_bytes
from embedproof.models.card import get_card
from embedproof.pick.store_advice import store_advice
from embedproof.vectors.matryoshka import MIN_SAFE_DIM
from embedproof.vectors.quantize import bytes_per_vector

SWAP_MARGIN_POINTS = 3.0
COLBERT_MIN_PASSAGES = 10_000
MTEB_TASKS = {
    "scientific": ["SciFact", "SCIDOCS", "NFCorpus"],
    "biomedical": ["NFCorpus", "TRECCOVID", "SciFact"],
    "medical": ["NFCorpus", "TRECCOVID"],
    "finance": ["FiQA2018"],
    "legal": ["LegalBenchConsumerContractsQA", "AILACasedocs"],
    "code": ["CodeSearchNetRetrieval", "CosQA"],
    "argument": ["ArguAna", "Touche2020"],
    "qa": ["NQ", "HotpotQA", "MSMARCO"],
    "general": ["MSMARCO", "NQ", "HotpotQA"],
    "multilingual": ["MIRACLRetrieval", "MultiLongDocRetrieval"],
}
DOMAINS = tuple(domain for domain in MTEB_TASKS if domain != "multilingual")  # multilingual follows from the languages
TARGETS = ("cloud", "edge", "on-prem", "cpu-only")


class UnsafeChoiceError(EmbedproofError):
    """A choice the picker refuses to recommend (docs/picking.md)."""


@dataclass
class Needs:
    """What the user told us (or the profile measured)."""

    docs: int
    languages: list[str] = field(default_factory=lambda: ["en"])
    domain: str = "general"
    avg_tokens: float = 300.0
    p99_tokens: float | None = None
    keyword_heavy: bool = False
    target: str = "cloud"  # one of TARGETS
    latency_ms: float | None = None
    storage_gb: float | None = None
    open_weights_only: bool = False
    # the user's stated set-up, checked rather than chosen
    model: str | None = None
    query_prefix: str | None = None
    dim: int | None = None
    validated_dim: bool = False
    mode: str | None = None
    domain_model: str | None = None
    domain_gain_points: float | None = None

    @property
    def multilingual(self) -> bool:
        return any(language != "en" for language in self.languages)

    @property
    def long_tokens(self) -> float:
        return self.p99_tokens if self.p99_tokens is not None else self.avg_tokens


def _choose_model(n: Needs) -> tuple[str, str]:
    """The picker's table (docs/picking.md), in priority order: long context, CPU-only, multilingual, English API,
    English open."""
    hosted_ok = not n.open_weights_only and n.target == "cloud"
    if n.long_tokens > 32_000:
        if hosted_ok:
            return (
                "voyage/voyage-3-large",
                "documents pass 32k tokens: voyage-3-large reads 32k per input "
                "(Cohere embed-v4 128k is the alternative)",
            )
        return (
            "Qwen/Qwen3-Embedding-8B",
            "documents pass 32k tokens and weights must be open: Qwen3-Embedding-8B reads 32k tokens",
        )
    if n.target in {"cpu-only", "edge"}:
        return (
            "nomic-ai/nomic-embed-text-v2-moe",
            "CPU-only deployment: Nomic Embed v2 (MoE, ~305M active parameters) "
            "keeps encoding affordable without a GPU",
        )
    if n.multilingual:
        return (
            "BAAI/bge-m3",
            "mixed languages: BGE-M3 leads open-weight multilingual retrieval "
            "and gives dense, sparse and multi-vector from one pass",
        )
    if hosted_ok:
        return (
            "openai/text-embedding-3-large",
            "English-only cloud deployment: text-embedding-3-large is the picker's fast API default "
            "(voyage-3-large is the alternative)",
        )
    return (
        "BAAI/bge-large-en-v1.5",
        "English with open weights: bge-large-en-v1.5 is the picker's open-weight English default",
    )


def _gib(value: float) -> str:
    return f"{value:,.2f}" if value >= 0.1 else f"{value:.3g}"


def _storage(docs: int, dim: int, precision: str) -> float:
    return docs * bytes_per_vector(dim, precision) / GIB


def _choose_dimension(n: Needs, card) -> dict:
    """Full precision if it fits; else Matryoshka (if trained, never below 64) and/or int8, then binary."""
    native = card.dim or 1024
    ladder = [(native, "float32")]
    for dim in [d for d in card.matryoshka_dims if MIN_SAFE_DIM <= d < native]:
        ladder.append((dim, "float32"))
    ladder.append((native, "int8"))
    ladder += [(d, "int8") for d in card.matryoshka_dims if MIN_SAFE_DIM <= d < native]
    ladder.append((native, "binary"))
    math = [
        f"{n.docs:,} vectors × {bytes_per_vector(d, p):,.0f} B ({d} dims {p}) = "
        + readable_bytes(_storage(n.docs, d, p) * GIB)
        for d, p in ladder[:1]
    ]
    if n.storage_gb is None:
        return {
            "dim": native,
            "precision": "float32",
            "gib": _storage(n.docs, native, "float32"),
            "math": math,
            "reason": "No storage budget given: full dimension, float32",
        }
    for dim, precision in ladder:
        gib = _storage(n.docs, dim, precision)
        if gib <= n.storage_gb:
            line = (
                f"{n.docs:,} × {bytes_per_vector(dim, precision):,.0f} B ({dim} dims {precision}) "
                f"= {_gib(gib)} GiB ≤ {n.storage_gb:,} GiB budget"
            )
            kind = "Full dimension" if dim == native else "Matryoshka-truncated"
            kind += "" if precision == "float32" else f", {precision}-quantised with rescoring"
            return {
                "dim": dim,
                "precision": precision,
                "gib": gib,
                "math": [line] if (dim, precision) == ladder[0] else math + [line],
                "reason": (
                    f"{kind}: the first set-up on the ladder (full → Matryoshka → int8 → binary) "
                    "that fits the storage budget"
                ),
            }
    dim, precision = ladder[-1]
    raise UnsafeChoiceError(
        f"{n.docs:,} vectors do not fit {n.storage_gb} GiB even as {dim}-dim binary "
        f"({_storage(n.docs, dim, precision):,.2f} GiB); raise the budget or shard the corpus"
    )


# Query encoding on 2 CPU cores grows with the parameter count: ~0.75 ms per million parameters, anchored to
# all-MiniLM-L6-v2 (22.7M parameters), whose query encoder measured a p50 of ~17 ms on these machines. An estimate
# to rule out what cannot fit a budget, never a measurement: the pick prints the bench command that measures it.
CPU_MS_PER_M_PARAMS = 0.75
CPU_TARGETS = {"cpu-only", "edge"}


def estimated_query_ms(card) -> float | None:
    """Estimated p50 query-encoding milliseconds on a 2-core CPU (None without a parameter count)."""
    return CPU_MS_PER_M_PARAMS * card.params_m if card.params_m else None


def _fits_cpu_budget(n: Needs, name: str, reason: str, flags: list[str]) -> tuple[str, str]:
    """Keep `name` when its estimated query p50 fits the latency budget; else the largest listed model that does."""
    card = get_card(name)
    estimate = estimated_query_ms(card)
    if n.latency_ms is None or n.target not in CPU_TARGETS or estimate is None or estimate <= n.latency_ms:
        if (
            n.latency_ms is not None
            and estimate is not None
            and n.target in CPU_TARGETS
            and 1.5 * estimate > n.latency_ms
        ):
            flags.append(
                f"{card.name}'s query encoding is estimated at ~{estimate:.0f} ms p50 on 2 CPU cores: its p99 may "
                f"not fit {n.latency_ms:g} ms; run the bench command below to measure it"
            )
        return name, reason
    from embedproof.models.card import load_cards

    def fits_languages(c) -> bool:
        return not n.multilingual or "multilingual" in c.languages

    candidates = [
        c
        for c in load_cards()
        if not c.hosted
        and "dense" in c.modes
        and c.params_m
        and fits_languages(c)
        and estimated_query_ms(c) <= n.latency_ms
    ]
    if not candidates:
        raise UnsafeChoiceError(
            f"no model on embedproof's list fits a {n.latency_ms:g} ms budget on a CPU: {card.name} is estimated at "
            f"~{estimate:.0f} ms per query (p50) and the smallest {'multilingual ' if n.multilingual else ''}model "
            "on the list needs more; raise the budget, use a GPU, or use BM25 alone (about a millisecond per query)"
        )
    chosen = max(candidates, key=lambda c: c.params_m)
    flags.append(
        f"{card.name} (~{estimate:.0f} ms estimated per query on 2 CPU cores) breaks the {n.latency_ms:g} ms budget: "
        f"{chosen.name} (~{estimated_query_ms(chosen):.0f} ms) is the largest listed model that fits"
    )
    if 1.5 * estimated_query_ms(chosen) > n.latency_ms:
        flags.append(
            f"{chosen.name}'s p99 may not fit {n.latency_ms:g} ms (its p50 alone is estimated at "
            f"~{estimated_query_ms(chosen):.0f} ms): run the bench command below to measure it"
        )
    return chosen.name, (
        f"The largest model on the list whose estimated query encoding (~{estimated_query_ms(chosen):.0f} ms "
        f"p50 on 2 CPU cores) fits the {n.latency_ms:g} ms budget; {card.name} would be the default ({reason})"
    )


def _bench_command(n: Needs, name: str, dimension: dict) -> tuple[str, list[dict]]:
    """The bench that checks the recommendation on the user's own corpus, and which of its models run here."""
    from embedproof.models.availability import availability
    from embedproof.models.card import load_cards

    alternatives = [
        c.name
        for c in load_cards()
        if not c.hosted
        and "dense" in c.modes
        and c.params_m
        and c.name != name
        and (not n.multilingual or "multilingual" in c.languages)
        and (n.latency_ms is None or n.target not in CPU_TARGETS or estimated_query_ms(c) <= n.latency_ms)
    ]
    alternatives = sorted(alternatives, key=lambda m: -get_card(m).params_m)[:2]
    models = [name, *alternatives, "bm25"]
    precision = ",".join(dict.fromkeys(["float32", dimension["precision"]]))
    command = "embedproof bench -d YOUR_CORPUS " + " ".join(f"-m {m}" for m in models) + f" --precision {precision}"
    if dimension["dim"] != get_card(name).dim:
        command += f" --dims {get_card(name).dim},{dimension['dim']}"
    return command, [{"model": m, **vars(availability(m))} for m in models]


def recommend(n: Needs) -> dict:
    """The five outputs with reasons, flags and refusals."""
    flags: list[str] = []
    if n.dim is not None and n.dim < MIN_SAFE_DIM and not n.validated_dim:
        raise UnsafeChoiceError(
            f"refusing Matryoshka truncation to {n.dim} dimensions (< {MIN_SAFE_DIM}) without validation on "
            "your domain: bench it first (embedproof bench --dims ... --allow-unvalidated-dims) and pass --validated"
        )
    if n.mode in {"colbert", "multivector"} and n.docs < COLBERT_MIN_PASSAGES:
        raise UnsafeChoiceError(
            f"refusing ColBERT/multi-vector for {n.docs:,} passages (< {COLBERT_MIN_PASSAGES:,}): the index is "
            "tens of times larger per passage and the overhead is not justified; use dense + a reranker"
        )
    name, model_reason = _choose_model(n)
    swap = None
    if n.domain_model:
        gain = n.domain_gain_points or 0.0
        if gain > SWAP_MARGIN_POINTS:
            swap = (
                f"swapped to {n.domain_model}: it beats {name} by {gain:.1f} points on your domain "
                f"(> {SWAP_MARGIN_POINTS:.0f})"
            )
            name, model_reason = n.domain_model, swap
        else:
            flags.append(
                f"keeping {name}: {n.domain_model} wins by only {gain:.1f} points "
                f"(the swap rule needs > {SWAP_MARGIN_POINTS:.0f})"
            )
    name, model_reason = _fits_cpu_budget(n, name, model_reason, flags)
    card = get_card(name)
    dimension = _choose_dimension(n, card)
    routed = get_card(n.model) if n.model else card
    if routed.max_tokens and routed.max_tokens <= 512 and n.long_tokens > 8_000:
        flags.append(
            f"long documents (~{n.long_tokens:,.0f} tokens) routed to {routed.name}'s "
            f"{routed.max_tokens}-token window: everything past it is silently dropped; "
            "chunk (embedproof bench --chunk-tokens) or choose a long-context model"
        )
    if card.max_tokens and n.long_tokens > card.max_tokens:
        flags.append(
            f"documents (~{n.long_tokens:,.0f} tokens) exceed {card.name}'s {card.max_tokens}-token window: chunk them"
        )
    if n.keyword_heavy:
        mode, mode_reason = (
            "hybrid",
            "Keyword-heavy corpus (codes, identifiers, rare terms): add SPLADE or BM25 and fuse with dense by RRF",
        )
    elif n.mode in {"colbert", "multivector"}:
        mode, mode_reason = (
            "multivector",
            f"{n.docs:,} passages justify late interaction; keep it to reranking the top 50",
        )
    else:
        mode, mode_reason = (
            "dense",
            "Dense bi-encoder first pass: the default; add sparse + RRF if recall on rare terms falls short",
        )
    if "sparse" in card.modes and mode == "hybrid":
        mode_reason += f" ({card.name} gives its own sparse weights from the same pass)"
    if n.model and n.query_prefix is not None:
        stated = get_card(n.model)
        if stated.query_prefix and n.query_prefix != stated.query_prefix:
            flags.append(
                f"your set-up uses query prefix {n.query_prefix!r} but {stated.name}'s card requires "
                f"{stated.query_prefix!r} ({stated.prefix_source}): expect 3-5 points of recall lost"
            )
    prefix = {"query": card.query_prefix, "document": card.document_prefix, "source": card.prefix_source or card.source}
    if card.asymmetry == "input_type":
        prefix["note"] = card.notes
    domain_tasks = MTEB_TASKS.get("multilingual" if n.multilingual else n.domain, MTEB_TASKS["general"])
    plan = {
        "mteb_tasks": domain_tasks,
        "held_out": (
            "embedproof bench on a held-out sample of your corpus with judged queries, nDCG@10 (and p99, bytes); "
            "without judgments, embedproof bench --corpus (inverse-cloze pseudo-queries) to screen, "
            "then judge a few dozen real queries"
        ),
        "swap_rule": (
            f"start from {name}; swap only if a domain model wins by more than "
            f"{SWAP_MARGIN_POINTS:.0f} points of nDCG@10"
        ),
    }
    command, models = _bench_command(n, name, dimension)
    store = store_advice(n.docs, n.latency_ms)
    return {
        "model": {"name": name, "reason": model_reason, "card": card.source},
        "dimension": dimension,
        "mode": {"mode": mode, "reason": mode_reason},
        "prefix": prefix,
        "evaluation_plan": plan,
        "flags": flags,
        "check": {"command": command, "models": models},
        "store": {"store": store.store, "reason": store.reason},
        "inputs": asdict(n),
    }


def to_markdown(rec: dict) -> str:
    """The five-part answer (docs/picking.md): model, dimension, mode, prefix, evaluation plan."""
    d = rec["dimension"]
    lines = [
        f"1. **Model**: `{rec['model']['name']}`. {rec['model']['reason']}.",
        f"2. **Dimension**: {d['dim']} dims, {d['precision']}. {d['reason']}. Storage: " + "; ".join(d["math"]) + ".",
        f"3. **Mode**: {rec['mode']['mode']}. {rec['mode']['reason']}.",
        f"4. **Prefix**: query `{rec['prefix']['query']!r}`, document `{rec['prefix']['document']!r}` "
        f"(card: {rec['prefix']['source']}).",
        f"5. **Evaluation plan**: MTEB tasks {', '.join(rec['evaluation_plan']['mteb_tasks'])}; "
        f"{rec['evaluation_plan']['held_out']}; {rec['evaluation_plan']['swap_rule']}.",
    ]
    if rec.get("store"):
        lines.append(f"6. **Store**: {rec['store']['store']}. {rec['store']['reason']}.")
    lines += [f"- ⚠ {flag}" for flag in rec["flags"]]
    check = rec.get("check")
    if check:
        here = ", ".join(f"`{m['model']}` {'runs here' if m['runnable'] else m['status']}" for m in check["models"])
        lines += ["", "Check it on your corpus (" + here + "):", "", f"    {check['command']}"]
    return "\n".join(lines)
