"""The Python flow from measurement to serving: bench → `Results` → pick → `Choice` → build → search.

    results = embedproof.bench("demo", models=["hashing", "bm25"])
    choice = results.pick(latency_ms=50)
    index = choice.build("demo-index")
    index.search("how do I reset my password")

Every run is a recipe, so every pick can be built; `Choice.build` builds exactly the picked run over the benched
corpus, with the encoder backend it was measured with. Dicts appear only at the JSON boundary (`Results.data`,
`Results.save`, `Results.load`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from embedproof.datasets.loading import Dataset, load_dataset
from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import DEFAULT_MODELS, BenchOptions
from embedproof.evaluation.pareto import run_name, run_p99, run_size
from embedproof.evaluation.results_file import find_run, load_results, upgrade_run
from embedproof.evaluation.run_result import ResultsFile, RunResult
from embedproof.files import write_json_atomic
from embedproof.index.access import SearchIndex, build_index, open_index
from embedproof.index.manifest import encoder_options_for
from embedproof.pick.evidence import evidence_markdown, pick_from_results
from embedproof.search.recipe import Recipe, load_recipe, mode_recipes

__all__ = ["bench", "bench_plan", "Results", "Run", "Choice"]


def bench_plan(
    models: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    recipes: Sequence[Recipe | str | Path] | None = None,
    model_runs: bool | None = None,
    reranker: str | None = None,
    rerank_top: int = 50,
) -> tuple[list[str], list[Recipe]]:
    """What a bench measures: the models benched on their own (model runs) and the recipes, each once.

    `modes` build standard recipes from `models` (its first dense and first sparse model); `recipes` are Recipe
    objects or recipe files. Model runs happen when asked (`model_runs=True`) or when no mode or recipe is given;
    then `models` defaults to bm25, hashing and MiniLM.
    """
    built = mode_recipes(modes, models, reranker, rerank_top) + [
        r if isinstance(r, Recipe) else load_recipe(r) for r in recipes or []
    ]
    alone = model_runs if model_runs is not None else not built
    names = list(dict.fromkeys(models or DEFAULT_MODELS)) if alone else []
    return names, built


def bench(
    source: str | Path | Dataset = "demo",
    models: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    recipes: Sequence[Recipe | str | Path] | None = None,
    *,
    model_runs: bool | None = None,
    split: str = "test",
    options: BenchOptions | None = None,
    progress=None,
    **settings,
) -> Results:
    """Bench models and recipes on a collection; every run is a recipe that `Results.pick(...).build(...)` serves.

    Args:
        source: a collection `load_dataset` reads (BEIR folder, .jsonl, folder of .txt/.md, "demo") or a Dataset.
        models: models to bench on their own (each swept over `dims` × `precisions` from one encode) and to build
            `modes` from.
        modes: standard recipes (dense, sparse, multivector, hybrid, hybrid+rerank) built from `models`.
        recipes: Recipe objects or recipe files.
        model_runs: also bench each model on its own (default: only when no mode or recipe is given).
        split: the qrels split scored.
        options: every bench setting; or give `BenchOptions` fields as keywords (`dims=[256]`,
            `precisions=["float32", "int8"]`, `chunk_tokens=254`, `latency_rounds=2`, ...).
        progress: `progress(description, total) -> advance(n)` for encoding progress.

    Returns:
        The `Results` of every run, each set-up once.
    """
    if options is not None and settings:
        raise InvalidInputError("bench: give `options` or BenchOptions fields as keywords, not both")
    try:
        options = options or BenchOptions(**settings)
    except TypeError as exc:
        raise InvalidInputError(f"bench: {exc}") from None
    dataset = source if isinstance(source, Dataset) else load_dataset(source, split=split, cache_dir=options.cache_dir)
    names, built = bench_plan(models, modes, recipes, model_runs)
    return Results(run_bench(dataset, names, options, progress, recipes=built or None), dataset)


@dataclass
class Run:
    """One measured run: a recipe and what it measured (`data` is its results.json entry)."""

    name: str
    recipe: Recipe | None
    model: str
    mode: str
    metrics: dict[str, float]
    p99_ms: float | None
    bytes: float | None  # per vector for a model run, per passage for a composed recipe
    encoder_backend: str
    data: RunResult = field(repr=False)

    @classmethod
    def of(cls, run: RunResult) -> Run:
        upgrade_run(run)
        return cls(
            run_name(run),
            Recipe(**run["recipe"]) if run.get("recipe") else None,
            run["model"],
            run["mode"],
            dict(run["metrics"]),
            run_p99(run),
            run_size(run),
            run.get("encoder_backend", "torch"),
            run,
        )


class Results:
    """A bench's results: its runs, a table, the results.json it saves, and the pick among its runs."""

    def __init__(self, data: ResultsFile, dataset: Dataset | None = None):
        self.data = data
        self.dataset = dataset

    @classmethod
    def load(cls, path: str | Path) -> Results:
        """Read a results.json (any release's)."""
        return cls(load_results(path))

    @property
    def runs(self) -> list[Run]:
        return [Run.of(r) for r in self.data["runs"]]

    def run(self, name: str) -> Run:
        """The run named `name` (as `table()` shows it)."""
        return Run.of(find_run(self.data, name))

    def table(self) -> str:
        """The runs as plain text: name, nDCG@10, p99 ms and bytes, best nDCG@10 first."""
        rows = sorted(self.runs, key=lambda r: -r.metrics["ndcg@10"])
        width = max([len(r.name) for r in rows] + [3])
        lines = [f"{'run':<{width}}  nDCG@10   p99 ms      bytes"]
        for r in rows:
            p99 = "-" if r.p99_ms is None else f"{r.p99_ms:.2f}"
            size = "-" if r.bytes is None else f"{r.bytes:,.0f}"
            lines.append(f"{r.name:<{width}}  {r.metrics['ndcg@10']:7.4f} {p99:>8} {size:>10}")
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        """Write results.json (atomically) for `pick --results`, `report`, `compare` and `index build --results`."""
        write_json_atomic(path, self.data)
        return Path(path)

    def pick(
        self, latency_ms: float | None = None, storage_gb: float | None = None, vectors: int | None = None
    ) -> Choice:
        """The cheapest run statistically tied with the best that fits the budgets (see `pick --results`).

        Args:
            latency_ms: p99 budget per query (the upper bound of the p99 interval must fit).
            storage_gb: storage budget in GiB for `vectors` vectors.
            vectors: vectors to store (default: the benched corpus's documents).

        Returns:
            The `Choice`; it raises when no run fits the budgets.
        """
        vectors = vectors or self.data.get("dataset", {}).get("documents", 1)
        pick = pick_from_results(self.data, latency_ms, storage_gb, vectors)
        if pick["choice"] is None:
            raise EmbedproofError(evidence_markdown(pick))
        return Choice(self.run(pick["choice"]["run"]), evidence_markdown(pick), pick, self)


@dataclass
class Choice:
    """The picked run: its recipe, why it was picked (Markdown, every number with its interval), and its build."""

    run: Run
    why: str
    data: dict = field(repr=False)
    results: Results = field(repr=False)

    @property
    def recipe(self) -> Recipe:
        if self.run.recipe is None:
            raise EmbedproofError(f"run {self.run.name!r} records no recipe (a file from an early release)")
        return self.run.recipe

    def build(self, out: str | Path, corpus: str | Path | Dataset | None = None, progress=None) -> SearchIndex:
        """Build the picked recipe over the benched corpus (or `corpus`) into `out` and open it.

        The index uses the encoder backend the run was measured with; it resumes an interrupted build of the
        same recipe. Returns the opened index: `.search(query)` answers with the recipe bench measured.
        """
        if corpus is None:
            corpus = self.results.dataset or self.results.data.get("dataset", {}).get("path")
            if corpus is None:
                raise InvalidInputError("build: the results name no corpus; give corpus=")
        data = corpus if isinstance(corpus, Dataset) else load_dataset(corpus)
        backend = self.run.encoder_backend
        build_index(
            self.recipe, data.corpus, out, encoder_options_for(backend), progress=progress, encoder_backend=backend
        )
        return open_index(out)
