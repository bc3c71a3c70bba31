"""`bench` options of issue 23: the queries measured shown and kept, --drop-code, judged@10 and --condensed."""

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedproof.cli import app

runner = CliRunner()


def test_show_queries_and_the_pseudo_queries_in_results(tmp_path: Path):
    pages = tmp_path / "pages"
    pages.mkdir()
    for n in range(6):
        (pages / f"p{n}.md").write_text(
            f"# Page {n} about topic {n} {{ #page-{n} }}\n\n"
            f"Topic {n} is described in this first sentence here. A second sentence about topic {n} follows.\n\n"
            "```python\nprint('code')\n```\n"
        )
    out = tmp_path / "r.json"
    args = ["bench", "-m", "bm25", "--corpus", str(pages), "--no-latency", "--show-queries", "3", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    queries = json.loads(out.read_text())["queries"]
    assert len(queries) == 6 and all("{ #" not in q for q in queries.values())
    shown = [line for line in result.output.splitlines() if line.startswith("ict-")]
    assert len(shown) == 3 and all(line.split(": ", 1)[1] == queries[line.split(" ")[0]] for line in shown)
    dropped = runner.invoke(app, [*args[:-2], "--drop-code", "-o", str(tmp_path / "d.json")])
    assert dropped.exit_code == 0, dropped.output
    real = json.loads((tmp_path / "d.json").read_text())
    assert "queries" in real
    on_demo = runner.invoke(app, ["bench", "-m", "bm25", "--no-latency", "--drop-code", "-o", str(tmp_path / "x.json")])
    assert on_demo.exit_code == 2 and "code blocks can only be dropped (--drop-code)" in on_demo.output
    assert "Traceback" not in on_demo.output
    demo = runner.invoke(app, ["bench", "-m", "bm25", "--no-latency", "-o", str(tmp_path / "demo.json")])
    assert demo.exit_code == 0 and "queries" not in json.loads((tmp_path / "demo.json").read_text())


def _pooled(tmp_path: Path) -> Path:
    """A BEIR folder judged as a pool: 6 judgments a query, most of them grade 0, many documents never judged."""
    folder = tmp_path / "pooled"
    (folder / "qrels").mkdir(parents=True)
    topics = ["rockets", "volcanoes", "orchids", "glaciers"]
    docs = [(f"{t}{i}", f"Notes on {t} number {i}: {t} {'and more ' * i}") for t in topics for i in range(12)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "text": x}) + "\n" for d, x in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": t, "text": t}) + "\n" for t in topics))
    rows = [f"{t}\t{t}{i}\t{1 if i in (8, 9) else 0}" for t in topics for i in (0, 1, 8, 9, 10, 11)]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return folder


def test_judged_at_10_on_pooled_judgments_warns_and_condensed_scores_judged_documents_only(tmp_path: Path):
    folder = _pooled(tmp_path)
    base = ["bench", "-m", "bm25", "--dataset", str(folder), "--no-latency"]
    plain = runner.invoke(app, [*base, "-o", str(tmp_path / "a.json")])
    assert plain.exit_code == 0, plain.output
    run = json.loads((tmp_path / "a.json").read_text())["runs"][0]
    # BM25 ranks a topic's 12 documents shortest first: the top 10 are numbers 0-9, of which 0, 1, 8, 9 are judged
    assert run["metrics"]["judged@10"] == 0.4
    assert "judged@10 is 40%" in plain.output and "lower bounds" in plain.output
    condensed = runner.invoke(app, [*base, "--condensed", "-o", str(tmp_path / "b.json")])
    assert condensed.exit_code == 0, condensed.output
    results = json.loads((tmp_path / "b.json").read_text())
    crun = results["runs"][0]
    assert results["settings"]["condensed"] is True and "judged@10 is" not in condensed.output
    # relevant 8 and 9 sit at ranks 9 and 10; condensed (0, 1, 8, 9, 10, 11 left) at ranks 3 and 4
    ideal = 1 + 1 / math.log2(3)
    assert run["metrics"]["ndcg@10"] == pytest.approx((1 / math.log2(10) + 1 / math.log2(11)) / ideal)
    assert crun["metrics"]["ndcg@10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(5)) / ideal)
    assert crun["metrics"]["judged@10"] == 0.4
    refused = runner.invoke(app, ["bench", "-m", "bm25", "--no-latency", "--condensed", "-o", str(tmp_path / "c.json")])
    assert refused.exit_code == 2 and "--condensed: these judgments are not a judged pool" in refused.output
