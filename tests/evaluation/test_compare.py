"""The regression gate on real demo benches: paired quality tests, p99 against a budget, exit codes, bad input."""

from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from embedproof.cli.compare import gate, parse_pairs
from embedproof.datasets.loading import load_dataset
from embedproof.errors import EmbedproofError
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.compare import compare_results, p99_difference_interval
from embedproof.evaluation.compare_format import to_markdown
from embedproof.evaluation.statistics import StatsSettings, holm, paired_test

BM25, HASHING = "bm25 sparse float32", "hashing dense d1024 float32"
PAIR = f"{BM25}={HASHING}"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One demo bench of bm25 and hashing, written whole and split into a bm25-only and a hashing-only file."""
    folder = tmp_path_factory.mktemp("compare")
    results = run_bench(load_dataset("demo"), ["bm25", "hashing"], BenchOptions(latency_queries=10))
    both = folder / "both.json"
    both.write_text(json.dumps(results))
    out = {"results": results, "both": both}
    for name, index in (("bm25", 0), ("hashing", 1)):
        single = {**results, "runs": [results["runs"][index]]}
        out[name] = folder / f"{name}.json"
        out[name].write_text(json.dumps(single))
    return out


def invoke(*args: str):
    return CliRunner().invoke(app, ["compare", *(str(a) for a in args)])


def one_error_line(result) -> str:
    """The CLI's answer to bad input: exit 2 and exactly one `error:` line on stderr, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def old_format(results: dict, keep_latency: bool = False) -> dict:
    """A results document as earlier versions (or hand-made files) have it: no per-query scores, no samples."""
    old = copy.deepcopy(results)
    old.pop("statistics", None)
    for run in old["runs"]:
        for key in ("per_query", "intervals", "vs_best", "pareto"):
            run.pop(key, None)
        if keep_latency:
            total = run["latency"]["online_ms"]["total"]
            total.pop("ci")
            run["latency"] = {"online_ms": {"total": total}}
        else:
            run.pop("latency", None)
    return old


def test_hashing_replacing_bm25_is_a_significant_regression(files):
    # Each file holds one run and the names differ, so the gate pairs the two and says so.
    result = invoke(files["bm25"], files["hashing"])
    assert result.exit_code == 1, result.output
    assert "REGRESSION" in result.stdout and "worse" in result.stdout
    assert "each file has one run" in result.stdout
    report = compare_results(files["results"], files["results"], pairs=[(BM25, HASHING)])
    ndcg = report["pairs"][0]["metrics"]["ndcg@10"]
    assert ndcg["diff"] < 0 and ndcg["ci"][1] < 0 and ndcg["p_holm"] < 0.05 and ndcg["verdict"] == "worse"
    assert report["pairs"][0]["verdict"] == "worse" and report["regression"] is True


def test_the_reverse_upgrade_is_better_and_passes(files):
    result = invoke(files["both"], "--pair", f"{HASHING}={BM25}")
    assert result.exit_code == 0, result.output
    report = json.loads(invoke(files["both"], "--pair", f"{HASHING}={BM25}", "--json").stdout)
    assert report["pairs"][0]["verdict"] == "better" and report["regression"] is False


def test_a_run_compared_with_itself_shows_no_change(files):
    result = invoke(files["both"], files["both"])
    assert result.exit_code == 0, result.output
    assert "no regression" in result.stdout
    report = compare_results(files["results"], files["results"])
    assert [(p["base_run"], p["new_run"], p["matched_by"]) for p in report["pairs"]] == [
        (BM25, BM25, "name"),
        (HASHING, HASHING, "name"),
    ]
    for pair in report["pairs"]:
        assert pair["verdict"] == "no significant change"
        for metric in ("ndcg@10", "recall@100"):
            row = pair["metrics"][metric]
            assert row["diff"] == 0 and row["ci"] == [0.0, 0.0] and row["p_value"] == 1.0
        p99 = pair["metrics"]["p99_ms"]
        assert p99["diff"] == 0 and p99["ci"][0] <= 0 <= p99["ci"][1]


def test_a_p99_budget_below_the_measured_p99_fails_the_gate(files):
    hashing = files["results"]["runs"][1]
    upper = hashing["latency"]["online_ms"]["total"]["ci"]["p99"][1]
    result = invoke(files["hashing"], files["hashing"], "--latency-ms", upper / 2)
    assert result.exit_code == 1, result.output
    assert "over budget" in result.stdout
    report = compare_results(files["results"], files["results"], pairs=[(HASHING, HASHING)], latency_ms=upper / 2)
    row = report["pairs"][0]["metrics"]["p99_ms"]
    assert row["upper_bound"] == upper and row["verdict"] == "over budget" and report["regression"]
    assert invoke(files["hashing"], files["hashing"], "--latency-ms", upper * 2).exit_code == 0


def test_numbers_match_paired_test_and_brute_force(files):
    results = files["results"]
    settings = StatsSettings.from_dict(results["statistics"])
    report = compare_results(results, results, pairs=[(BM25, HASHING), (HASHING, BM25)])
    bm25, hashing = results["runs"]
    qids = sorted(bm25["per_query"])
    rows = []
    for pair in report["pairs"]:
        base, new = (bm25, hashing) if pair["base_run"] == BM25 else (hashing, bm25)
        for metric in ("ndcg@10", "recall@100"):
            b = np.array([base["per_query"][q][metric] for q in qids])
            n = np.array([new["per_query"][q][metric] for q in qids])
            row = pair["metrics"][metric]
            reference = paired_test(n, b, settings)
            assert row["diff"] == pytest.approx(reference.diff) == pytest.approx(float(np.mean(n - b)))
            assert row["ci"] == pytest.approx(list(reference.ci)) and row["ci"][0] <= row["diff"] <= row["ci"][1]
            assert row["p_value"] == reference.p_value
            assert (row["wins"], row["losses"], row["ties"]) == (reference.wins, reference.losses, reference.ties)
            assert row["base"] == pytest.approx(b.mean()) and row["new"] == pytest.approx(n.mean())
            rows.append(row)
    assert report["quality_tests"] == 4
    assert [r["p_holm"] for r in rows] == holm([r["p_value"] for r in rows])
    # the sign-flip p-value agrees with scipy's paired permutation test on the same differences
    from scipy.stats import permutation_test

    b = np.array([bm25["per_query"][q]["ndcg@10"] for q in qids])
    n = np.array([hashing["per_query"][q]["ndcg@10"] for q in qids])
    scipy_p = permutation_test(
        (n, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=10_000, random_state=1
    ).pvalue
    assert rows[0]["p_value"] == pytest.approx(scipy_p, abs=0.002)


def test_p_value_is_exact_on_a_small_query_set():
    """Eight queries: every sign pattern enumerated by hand gives the same p-value the gate reports."""
    base_scores = [0.2, 0.5, 0.9, 0.1, 0.4, 0.7, 0.3, 0.6]
    new_scores = [0.1, 0.2, 0.8, 0.1, 0.1, 0.5, 0.35, 0.2]

    def doc(scores):
        return {
            "runs": [
                {
                    "model": "m",
                    "mode": "dense",
                    "precision": "float32",
                    "metrics": {"ndcg@10": float(np.mean(scores)), "recall@100": 1.0},
                    "per_query": {f"q{i}": {"ndcg@10": s, "recall@100": 1.0} for i, s in enumerate(scores)},
                }
            ]
        }

    report = compare_results(doc(base_scores), doc(new_scores))
    row = report["pairs"][0]["metrics"]["ndcg@10"]
    diffs = np.array(new_scores) - np.array(base_scores)
    observed = abs(diffs.mean())
    null = [abs(np.mean(diffs * np.array(signs))) for signs in itertools.product([1, -1], repeat=len(diffs))]
    assert row["p_value"] == pytest.approx(np.mean([v >= observed - 1e-12 for v in null]))
    assert row["diff"] == pytest.approx(diffs.mean())
    # recall@100 is 1.0 everywhere: a zero difference, never significant
    assert report["pairs"][0]["metrics"]["recall@100"]["verdict"] == "no significant change"


def test_p99_difference_interval_is_unpaired_and_seeded():
    base, slow = np.full((3, 20), 1.0), np.full((2, 30), 3.0)
    assert p99_difference_interval(base, slow) == [2.0, 2.0]
    rng = np.random.default_rng(7)
    a, b = rng.gamma(2.0, 1.0, size=(3, 40)), rng.gamma(2.0, 1.0, size=(3, 40)) + 20
    first, again = p99_difference_interval(a, b), p99_difference_interval(a, b)
    assert first == again and first[0] > 0
    assert p99_difference_interval(a, b, StatsSettings(seed=5)) != first


def test_a_clearly_slower_p99_is_reported_but_gates_only_with_a_budget(files):
    new = copy.deepcopy(files["results"])
    for run in new["runs"]:
        run["latency"]["samples_ms"] = (np.array(run["latency"]["samples_ms"]) + 100).tolist()
        total = run["latency"]["online_ms"]["total"]
        total["p99"] += 100
        total["ci"]["p99"] = [x + 100 for x in total["ci"]["p99"]]
    report = compare_results(files["results"], new)
    assert {p["metrics"]["p99_ms"]["verdict"] for p in report["pairs"]} == {"slower"}
    assert not report["regression"]
    assert compare_results(files["results"], new, latency_ms=50)["regression"]


def test_old_files_show_no_interval_and_claim_nothing(files, tmp_path):
    old = old_format(files["results"])
    report = compare_results(old, old, pairs=[(BM25, HASHING)])
    pair = report["pairs"][0]
    for metric in ("ndcg@10", "recall@100"):
        row = pair["metrics"][metric]
        assert row["ci"] is None and row["p_value"] is None and row["verdict"] == "no interval"
    assert pair["metrics"]["ndcg@10"]["diff"] < 0  # worse on the point values, yet not claimed as a regression
    assert pair["metrics"]["p99_ms"]["verdict"] == "not measured"
    assert pair["verdict"] == "no interval" and report["regression"] is False and report["quality_tests"] == 0
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    result = invoke(path, "--pair", PAIR)
    assert result.exit_code == 0 and "no interval" in result.stdout
    assert "no interval" in to_markdown(report)
    # a budget cannot be checked without a latency measurement: said, not passed silently
    assert "no latency measurement" in one_error_line(invoke(path, "--pair", PAIR, "--latency-ms", 100))


def test_old_files_with_point_latency_check_the_budget_on_the_point(files):
    old = old_format(files["results"], keep_latency=True)
    p99 = old["runs"][1]["latency"]["online_ms"]["total"]["p99"]
    report = compare_results(old, old, pairs=[(HASHING, HASHING)], latency_ms=p99 / 2)
    row = report["pairs"][0]["metrics"]["p99_ms"]
    assert row["ci"] is None and row["new_ci"] is None and row["upper_bound"] == p99
    assert row["verdict"] == "over budget" and report["regression"]
    assert not compare_results(old, old, pairs=[(HASHING, HASHING)], latency_ms=p99 * 2)["regression"]


def test_queries_are_matched_by_id_and_drops_are_counted(files):
    base, new = copy.deepcopy(files["results"]), copy.deepcopy(files["results"])
    qids = sorted(base["runs"][0]["per_query"])
    for run in base["runs"]:
        run["per_query"].pop(qids[0])
    for run in new["runs"]:
        for q in qids[1:4]:
            run["per_query"].pop(q)
        run["per_query"]["extra"] = dict(run["per_query"][qids[5]])
    report = compare_results(base, new)
    pair = report["pairs"][0]
    # base-only: the three new dropped; new-only: the one base dropped and "extra"
    assert pair["queries"] == {"matched": len(qids) - 4, "dropped_base": 3, "dropped_new": 2}
    assert any("queries matched" in note for note in pair["notes"])
    for run in new["runs"]:
        run["per_query"] = {"other": run["per_query"][qids[5]]}
    with pytest.raises(EmbedproofError, match="share no query id"):
        compare_results(base, new)


def test_run_matching_errors_name_the_runs(files):
    results = files["results"]
    with pytest.raises(EmbedproofError, match="unknown new run 'nope'.*hashing dense d1024 float32"):
        compare_results(results, results, pairs=[(BM25, "nope")])
    renamed = copy.deepcopy(results)
    for run in renamed["runs"]:
        run["name"] += " renamed"
    with pytest.raises(EmbedproofError, match="no run names match.*--pair"):
        compare_results(results, renamed)


def test_alpha_is_honoured(files):
    report = compare_results(files["results"], files["results"], pairs=[(BM25, HASHING)])
    p = report["pairs"][0]["metrics"]["ndcg@10"]["p_holm"]
    result = invoke(files["both"], "--pair", PAIR, "--alpha", p / 2)
    assert result.exit_code == 0, result.output


def test_markdown_and_json_outputs(files, tmp_path):
    gate_md = tmp_path / "gate.md"
    result = invoke(files["both"], "--pair", PAIR, "--markdown", gate_md, "--latency-ms", 1000)
    assert result.exit_code == 1
    text = gate_md.read_text()
    assert text.startswith("## embedproof compare") and "| ndcg@10 |" in text
    assert "Holm" in text and "budget 1000 ms" in text
    printed = invoke(files["both"], "--pair", PAIR, "--markdown", "-")
    assert "| run (base → new) |" in printed.stdout
    report = json.loads(invoke(files["both"], "--pair", PAIR, "--json").stdout)
    assert report["regression"] is True and report["files"]["base"] == str(files["both"])
    assert report["statistics"]["correction"] == "holm"


def test_gate_for_bench_baseline(files):
    report, code = gate(files["bm25"], files["results"], None, None, 0.05)
    assert code == 0 and [p["base_run"] for p in report["pairs"]] == [BM25]
    report, code = gate(files["both"], files["results"], [PAIR], None, 0.05)
    assert code == 1 and report["regression"]
    with pytest.raises(EmbedproofError, match="--alpha"):
        gate(files["both"], files["results"], None, None, 1.5)


def test_parse_pairs():
    assert parse_pairs(None) is None
    assert parse_pairs([" a = b ", ("c", "d")]) == [("a", "b"), ("c", "d")]
    for bad in ["ab", "=b", "a=", "a=b=c"]:
        with pytest.raises(EmbedproofError, match="--pair"):
            parse_pairs([bad])


@pytest.mark.parametrize(
    "args, message",
    [
        (["{missing}"], "cannot read results file"),
        (["{garbage}"], "not valid JSON"),
        (["{foreign}"], "not a readable embedproof results file"),
        (["{both}", "--pair", "nope=" + HASHING], "unknown base run 'nope'"),
        (["{both}", "--pair", "no-equals-sign"], "--pair"),
        (["{both}", "--pair", "a=b=c"], "--pair"),
        (["{both}", "--pair", "=" + HASHING], "--pair"),
        (["{both}", "{both}", "--alpha", "0"], "--alpha"),
        (["{both}", "{both}", "--alpha", "1.5"], "--alpha"),
        (["{both}", "{both}", "--latency-ms", "-5"], "--latency-ms"),
        (["{both}", "{both}", "--latency-ms", "0"], "--latency-ms"),
        (["{both}"], "needs --pair"),
        (["{both}", "--pair", PAIR, "--json", "--markdown", "-"], "stdout"),
        (["{few_resamples}", "{both}"], "1,000"),
        (["{bad_seed}", "{both}"], "statistics.seed"),
        (["{ragged}", "{ragged}"], "samples_ms"),
        (["{bad_scores}", "{bad_scores}"], "is not a number"),
    ],
)
def test_bad_input_exits_2_with_one_line(files, tmp_path, args, message):
    paths = {
        "missing": tmp_path / "missing.json",
        "garbage": tmp_path / "garbage.json",
        "foreign": tmp_path / "foreign.json",
        "both": files["both"],
    }
    paths["garbage"].write_text("{not json")
    paths["foreign"].write_text(json.dumps({"hello": "world"}))
    results = files["results"]
    broken = {
        "few_resamples": {**results, "statistics": {"bootstrap_resamples": 10}},
        "bad_seed": {**results, "statistics": {"seed": "zero"}},
        "ragged": copy.deepcopy(results),
        "bad_scores": copy.deepcopy(results),
    }
    broken["ragged"]["runs"][0]["latency"]["samples_ms"] = [[1.0, 2.0], [3.0]]
    next(iter(broken["bad_scores"]["runs"][0]["per_query"].values()))["ndcg@10"] = "high"
    for name, doc in broken.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    line = one_error_line(invoke(*[a.format(**paths) for a in args]))
    assert message in line


def test_condensed_against_plain_lists_and_dropped_code_are_named(files):
    """Condensed scores run higher than plain ones and dropped code blocks change the texts: both are noted."""
    new = copy.deepcopy(files["results"])
    new["settings"]["condensed"] = True
    new["dataset"]["drop_code"] = True
    notes = compare_results(files["results"], new)["notes"]
    assert any(n.startswith("the new file scored condensed lists (--condensed") for n in notes)
    assert "the new file dropped code blocks (--drop-code): the documents and queries differ" in notes
    assert not any("condensed" in n or "drop-code" in n for n in compare_results(new, new)["notes"])
