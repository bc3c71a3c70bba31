"""The pool: each question's candidates, the top k of every set-up, de-duplicated and shuffled (blind).

The set-ups come from a results file or from recipes given as in `bench`. results.json holds each run's metrics,
not its rankings, so a results file's runs are turned back into recipes (every run carries its recipe; `load_results`
gives older files' runs theirs) and run on the corpus with the same pipeline bench uses
(`Workspace`, `run_recipe`). A chunked recipe's passage is the chunk that scored. Engine recipes are ranked by the
exact store (the engine's HNSW approximates that ranking), which `notes` says. A set-up's ranking of the
questions is kept in the pool (the page never shows it), so the power analysis can score each set-up on the
judgments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from embedproof.datasets.loading import Dataset
from embedproof.errors import InvalidInputError
from embedproof.judge.passage import best_window, question_terms
from embedproof.search.recipe import Recipe

__all__ = ["SetUp", "Pooler", "setups_from_results", "setups_from_recipes", "top_ids"]


@dataclass
class SetUp:
    """A named way to rank: a recipe, and the encoder options its models were benched with."""

    name: str
    recipe: Recipe
    options: dict = field(default_factory=dict)


def top_ids(scores: dict[str, float], k: int) -> list[str]:
    """The k best documents, ties broken as trec_eval does (score, then document id, both descending)."""
    return [d for d, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)[:k]]


def _builtin(model: str) -> bool:
    return model.lower() == "bm25" or model.lower().startswith("hashing")


def _run_options(run: dict, model: str) -> dict:
    if _builtin(model):
        return {}
    options = {k: run[k] for k in ("query_prefix", "document_prefix", "max_tokens") if run.get(k) is not None}
    backend = run.get("encoder_backend", "torch")
    return {**options, **({"backend": backend} if backend != "torch" else {})}


def setups_from_results(results: dict, dataset: Dataset, source: str = "--results") -> tuple[list[SetUp], list[str]]:
    """(set-ups, notes) for every run of a results file (as `load_results` reads it) measured on `dataset`'s corpus;
    refuses another corpus."""
    from embedproof.evaluation.pareto import run_name

    measured = results.get("dataset") or {}
    count, name = measured.get("documents"), str(measured.get("name") or "")
    # "corpus (inverse cloze)" is a pseudo-query bench of the same corpus
    same_name = not name or name == dataset.name or name.startswith(f"{dataset.name} (")
    if (count is not None and count != len(dataset.corpus)) or not same_name:
        raise InvalidInputError(
            f"{source}: measured on {name or '?'} ({count if count is not None else '?'} documents), not on "
            f"{dataset.name} ({len(dataset.corpus)} documents); judge the corpus the results were benched on"
        )
    setups, notes, seen = [], [], set()
    for run in results.get("runs", []):
        label = run_name(run)
        if label in seen:
            continue
        seen.add(label)
        if "recipe" not in run:  # `load_results` gives every valid run its recipe, older files' runs included
            raise InvalidInputError(f"{source}: run {label!r} carries no recipe that can be run again")
        fields = {k: v for k, v in run["recipe"].items() if k in Recipe.__dataclass_fields__}
        if fields.get("engine") is not None:
            notes.append(f"{label}: ranked by the exact store (its engine's HNSW approximates that ranking)")
        recipe = Recipe(**{**fields, "name": label, "engine": None})
        setups.append(SetUp(label, recipe, _run_options(run, recipe.first_pass[0])))
    if not setups:
        raise InvalidInputError(f"{source}: the results file has no runs to pool")
    return setups, notes


def setups_from_recipes(recipes: list[Recipe] | None, models: list[str] | None) -> list[SetUp]:
    """Set-ups as bench reads its options: recipes (--mode/--recipe), else one set-up per --model."""
    if recipes:
        return [SetUp(r.name, r) for r in recipes]
    if not models:
        raise InvalidInputError("judge needs set-ups to pool: --results, or --mode/--recipe/--model as in bench")
    return [SetUp(m, Recipe(m, [m])) for m in dict.fromkeys(models)]


class Pooler:
    """Runs every set-up on new questions over one corpus (encoded once) and builds their pool entries."""

    def __init__(self, dataset: Dataset, setups: list[SetUp], depth: int = 5, seed: int = 0, window: int = 80):
        from embedproof.search.pipeline import Workspace

        names = [s.name for s in setups]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidInputError(f"set-ups named {', '.join(map(repr, twice))} appear more than once")
        self.dataset, self.setups, self.depth, self.seed, self.window = dataset, setups, depth, seed, window
        self.doc_ids = list(dataset.corpus)
        self.chunk_spans: dict[str, dict[str, tuple[int, int]]] = {}
        options: dict[str, dict] = {}
        for setup in setups:
            for model in setup.recipe.models():
                options.setdefault(model, setup.options)
        self.workspace = Workspace(
            self.doc_ids, [dataset.corpus[d].full_text for d in self.doc_ids], lambda m: options.get(m, {})
        )

    def rank(self, qids: list[str], texts: list[str]) -> dict[str, dict[str, list[str]]]:
        """Set-up name → question id → its top `depth` document ids. A chunked set-up's best chunk of each
        document it ranks is kept in `self.chunk_spans` (question id → document → character span)."""
        from embedproof.search.pipeline import best_chunk, ranking_stages, run_recipe

        out: dict[str, dict[str, list[str]]] = {}
        for setup in self.setups:
            stages = run_recipe(setup.recipe, self.workspace, qids, texts)
            run = ranking_stages(stages)[-1].run
            out[setup.name] = {q: top_ids(dict(run.get(q, {})), self.depth) for q in qids}
            if setup.recipe.chunking is None:
                continue
            for q in qids:
                for doc in out[setup.name][q]:
                    chunk = best_chunk(self.workspace, setup.recipe, stages, q, doc)
                    if chunk is not None:  # the first chunked set-up that ranked it names the passage
                        self.chunk_spans.setdefault(q, {}).setdefault(doc, (chunk["start"], chunk["end"]))
        return out

    def pool(self, qids: list[str], texts: list[str], counts: list[int] | None = None) -> list[dict]:
        """One pool entry per question: its candidates shuffled (seeded by the question id), rankings, passages."""
        rankings = self.rank(qids, texts)
        entries = []
        for i, (qid, text) in enumerate(zip(qids, texts)):
            docs = sorted({d for ranking in rankings.values() for d in ranking[qid]})
            random.Random(f"{self.seed}:{qid}").shuffle(docs)
            terms = question_terms(text)
            spans = self.chunk_spans.get(qid, {})  # the chunk that scored, else the window that matches best
            passages = {
                d: list(spans.get(d) or best_window(self.dataset.corpus[d].full_text, terms, self.window)) for d in docs
            }
            entries.append(
                {
                    "qid": qid,
                    "text": text,
                    "count": counts[i] if counts else 1,
                    "order": docs,
                    "rankings": {name: ranking[qid] for name, ranking in rankings.items()},
                    "passages": passages,
                }
            )
        return entries
