"""Bench recipes (dense, sparse, multivector, hybrid, hybrid+rerank, or any recipe file) on one collection.

Every model is encoded once per bench (a shared Workspace); each recipe gives one results.json run with its
per-stage candidates, timings and metrics. Fusion weights can be tuned on another split (never on the one
scored) and the tuned recipe is reported as its own run.
"""

from __future__ import annotations

from embedproof.datasets.loading import Dataset
from embedproof.errors import InvalidInputError
from embedproof.evaluation.bench_engine import (
    EngineBench,
    engine_bytes_per_passage,
    exact_twin,
    register_engine,
    unindexed_warning,
)
from embedproof.evaluation.bench_options import (
    BenchOptions,
    ProgressFactory,
    encoder_options,
    latency_plan,
    measure_plan,
    recipe_backend,
)
from embedproof.evaluation.latency import LatencyPlan
from embedproof.evaluation.metrics import evaluate_run, judged_warning, write_trec_run
from embedproof.files import safe_name
from embedproof.models.card import get_card
from embedproof.search.engine import engine_settings
from embedproof.search.fusion import top, tune_fusion
from embedproof.search.pipeline import JOINT, Workspace, encode_queries, query_encoders, ranking_stages, run_recipe
from embedproof.search.recipe import Component, Recipe, check_unique_names

STAGE_METRICS = ("ndcg@10", "recall@10", "recall@100")


def _storage_per_passage(workspace: Workspace, recipe: Recipe) -> float:
    """Bytes per passage of everything the recipe's first pass keeps in its index."""
    total = 0.0
    n = max(len(workspace.doc_ids), 1)
    for part in map(Component.of_first_pass, recipe.first_pass):
        model = part.model
        if part.kind == "tokens":
            total += workspace.documents(model, "tokens").info["bytes_float16"] / n
            continue
        space = workspace.chunked(model, recipe.chunking) if recipe.chunking else workspace
        docs = space.documents(model)
        if docs.mode == "dense":
            from embedproof.vectors.quantize import bytes_per_vector

            # what the index stores (see index/chunks.py): one vector per chunk when chunked
            total += bytes_per_vector(recipe.dim or docs.dim, recipe.precision) * len(space.doc_ids) / n
        elif docs.mode == "sparse":
            m = docs.sparse
            total += (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) / n
    if recipe.reranker and recipe.reranker[0] == "maxsim":
        # a MaxSim rerank needs every passage's token vectors at hand (float16): estimated from the shortlisted ones
        total += workspace.token_bytes_per_passage(recipe.reranker[1])
    return total


def first_pass_mode(recipe: Recipe, workspace: Workspace) -> str:
    """How a recipe's first pass retrieves: dense, sparse, multivector, or hybrid (several runs fused)."""
    if len(recipe.first_pass) > 1:
        return "hybrid"
    model = recipe.first_pass[0]
    return "multivector" if Component.of_first_pass(model).kind == "tokens" else workspace.encoder(model).mode


def bench_recipes(
    dataset: Dataset,
    recipes: list[Recipe],
    options: BenchOptions | None = None,
    progress: ProgressFactory | None = None,
    tune_split: str | None = None,
    plan: LatencyPlan | None = None,
    workspace: Workspace | None = None,
) -> list[dict]:
    """One run per recipe (plus one per tuned recipe when `tune_split` is given).

    Each recipe's query-time work is registered with `plan` (query encoders shared by key with every other run
    that uses them); without a plan the recipes are timed here, among themselves.
    """

    check_unique_names(recipes)
    options = options or BenchOptions()
    own_plan = plan is None
    plan = latency_plan(dataset, options) if own_plan else plan
    if workspace is None:
        doc_ids = list(dataset.corpus)
        workspace = Workspace(
            doc_ids,
            [dataset.corpus[d].full_text for d in doc_ids],
            lambda m: encoder_options(m, options, recipe_backend(options)),
            progress,
        )
    entries: list[dict] = []
    engines = None
    try:
        for recipe in recipes:
            if recipe.engine is not None:
                if engines is None:
                    engines = EngineBench(options.engine_dir)
                    plan.on_close(engines.close)
                entries.append(_engine_entry(engines, plan, dataset, recipe, workspace, options, progress))
                continue
            _bench_exact(recipe, dataset, workspace, options, plan, tune_split, entries)
        if own_plan:
            measure_plan(plan, options)
    finally:
        if own_plan:
            plan.close()
    return entries


def _bench_exact(
    recipe: Recipe,
    dataset: Dataset,
    workspace: Workspace,
    options: BenchOptions,
    plan: LatencyPlan,
    tune_split: str | None,
    entries: list[dict],
) -> None:
    """One recipe (and its tuned twin) searched by the embedded pipeline, exactly as the embedded store serves it."""
    query_ids = list(dataset.judged_queries)
    query_texts = [dataset.queries[q] for q in query_ids]
    stages = run_recipe(recipe, workspace, query_ids, query_texts)
    entries.append(_entry(recipe, stages, dataset.qrels, workspace, len(query_ids), condensed=options.condensed))
    _register(plan, entries[-1], recipe, workspace, query_ids, query_texts)
    _write_run(entries[-1], recipe, stages, dataset.name, options)
    if tune_split and len(recipe.first_pass) > 1:
        tuned, tuned_recipe = _tuned(recipe, dataset, workspace, tune_split, query_ids, query_texts, options.condensed)
        entries.append(tuned)
        _register(plan, tuned, tuned_recipe, workspace, query_ids, query_texts)
        _write_run(
            tuned, tuned_recipe, run_recipe(tuned_recipe, workspace, query_ids, query_texts), dataset.name, options
        )


def _engine_entry(
    engines: EngineBench,
    plan: LatencyPlan,
    dataset: Dataset,
    recipe: Recipe,
    workspace: Workspace,
    options: BenchOptions,
    progress: ProgressFactory | None,
) -> dict:
    """A recipe measured through the Qdrant engine: its edge index built, queried and timed as it is served."""
    query_ids = list(dataset.judged_queries)
    query_texts = [dataset.queries[q] for q in query_ids]
    twin = exact_twin(recipe)
    exact = run_recipe(twin, workspace, query_ids, query_texts)  # also fills the embedding cache the build reads
    store, stages, index = engines.measure(dataset, recipe, options, exact[-1].run, query_ids, query_texts, progress)
    entry = _entry(recipe, stages, dataset.qrels, workspace, len(query_ids), condensed=options.condensed)
    settings = engine_settings(recipe)
    dense = [m for m in recipe.first_pass_models() if workspace.encoder(m).mode == "dense"]
    dims = [recipe.dim or workspace.documents(m).dim for m in dense]
    stored = twin if settings.quantization else recipe  # a quantiser keeps the float originals to rescore with
    entry["bytes_per_passage"] = round(
        engine_bytes_per_passage(settings, dims, _storage_per_passage(workspace, stored)), 1
    )
    entry["timings"]["build_s"] = store["build_s"]
    entry["store"] = store
    entry["warnings"] += unindexed_warning(store)
    register_engine(plan, entry, index, recipe, query_texts)
    _write_run(entry, recipe, stages, dataset.name, options)
    return entry


def _write_run(entry: dict, recipe: Recipe, stages, dataset_name: str, options: BenchOptions) -> None:
    """With `--run-dir`, the recipe's ranking as a TREC run file (as model runs get), named in `run_file`."""
    if options.run_dir:
        path = f"{options.run_dir}/{dataset_name}.{safe_name(recipe.name)}.trec"
        entry["run_file"] = str(write_trec_run(top(stages[-1].run, recipe.candidates), path, tag=recipe.name))


def _register(
    plan: LatencyPlan, entry: dict, recipe: Recipe, workspace: Workspace, ids: list[str], texts: list[str]
) -> None:
    """Add the recipe's search stages to the plan, after query encoders the plan shares among runs."""
    keys = []
    for key in query_encoders(recipe, workspace):
        kind, model = key.split(":", 1)
        owner = workspace.encoder(model, "first" if kind == JOINT else kind)
        keys.append(
            plan.encoder(key, owner, lambda rows, key=key: encode_queries(workspace, key, ids[rows], texts[rows]))
        )

    def stages(encoded: dict, rows: slice) -> list[tuple[str, float]]:
        return [(s.name, s.seconds) for s in run_recipe(recipe, workspace, ids[rows], texts[rows], encoded=encoded)]

    plan.add(entry, keys, stages)


def _native_dim(workspace: Workspace, recipe: Recipe, model: str) -> int:
    space = workspace.chunked(model, recipe.chunking) if recipe.chunking else workspace
    return space.documents(model).dim


def _entry(
    recipe: Recipe, stages, qrels, workspace: Workspace, n_queries: int, name: str | None = None, condensed=False
) -> dict:
    means, per_query = evaluate_run(qrels, top(stages[-1].run, recipe.candidates), condensed=condensed)
    dense = [m for m in recipe.first_pass_models() if workspace.encoder(m).mode == "dense"]
    warnings = []
    for part in map(Component.of_first_pass, recipe.first_pass):
        warnings += list(getattr(workspace.encoder(part.model, part.kind), "warnings", []))
    backends = {str(getattr(workspace.encoder(m, "first"), "backend", "torch")) for m in dense}
    return {
        "name": name or recipe.name,
        "recipe": recipe.to_dict(),
        "model": recipe.models()[0],
        "models": recipe.models(),
        "encoder_backend": backends.pop() if len(backends) == 1 else "torch",
        "card": get_card(dense[0]).name if dense and get_card(dense[0]).known else None,
        "mode": first_pass_mode(recipe, workspace),
        "dim": (recipe.dim or _native_dim(workspace, recipe, dense[0])) if dense else None,
        "precision": recipe.precision if dense else "float32",
        "metrics": means,
        "per_query": per_query,
        "bytes_per_passage": round(_storage_per_passage(workspace, recipe), 1),
        "stages": [
            {
                "stage": s.name,
                "candidates": s.candidates,
                "seconds": round(s.seconds, 4),
                "ms_per_query": round(1000 * s.seconds / max(n_queries, 1), 3),
                **({"metrics": evaluate_run(qrels, s.run, list(STAGE_METRICS))[0]} if s.run is not None else {}),
            }
            for s in stages
        ],
        "timings": {
            "encode_documents_s": round(sum(workspace.encode_seconds.values()), 4),
            "search_s": round(sum(s.seconds for s in stages if s.run is not None), 4),
            "encode_queries_s": round(sum(s.seconds for s in stages if s.run is None), 4),
        },
        "warnings": warnings + judged_warning(means, condensed),
    }


def _tuned(
    recipe: Recipe, dataset: Dataset, workspace: Workspace, split: str, test_ids, test_texts, condensed: bool = False
) -> dict:
    """Grid-search fusion weights (and RRF k) on `split`, then score the tuned recipe on the bench split."""
    if split == dataset.split:
        raise InvalidInputError(f"refusing to tune on {split!r}: it is the split being scored")
    qrels = dataset.split_qrels(split)
    ids = list(qrels)
    texts = [dataset.queries[q] for q in ids]
    first_pass = Recipe(recipe.name, recipe.first_pass, candidates=recipe.candidates)
    first_runs = [
        s.run for s in ranking_stages(run_recipe(first_pass, workspace, ids, texts))[: len(recipe.first_pass)]
    ]
    objective = lambda run: evaluate_run(qrels, top(run, recipe.candidates), ["ndcg@10"])[0]["ndcg@10"]  # noqa: E731
    weight_grid = tuple(round(0.1 * i, 1) for i in range(11))
    best, value = tune_fusion(first_runs, objective, recipe.fusion, weight_grid=weight_grid)
    tuned = Recipe(
        f"{recipe.name} (tuned on {split})",
        recipe.first_pass,
        best["method"],
        {k: v for k, v in best.items() if k not in {"method", "weights"}},
        best["weights"],
        recipe.rerank,
        recipe.rerank_top,
        recipe.candidates,
    )
    scored = run_recipe(tuned, workspace, test_ids, test_texts)
    entry = _entry(tuned, scored, dataset.qrels, workspace, len(test_ids), condensed=condensed)
    entry["tuning"] = {
        "split": split,
        "queries": len(ids),
        "objective": "ndcg@10",
        "value_on_tuning_split": value,
        "params": best,
    }
    return entry, tuned
