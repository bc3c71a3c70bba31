"""The load test's core (benchmarks/load_serve.py) on a short run: a real `embedproof serve` subprocess, 0 errors."""

from pathlib import Path

import pytest

from tests.conftest import benchmark_module

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load_serve.py"


def _module():
    return benchmark_module("load_serve")


def test_short_load_run_has_no_errors_and_bounded_memory(tmp_path):
    load_serve = _module()
    index = load_serve.build_demo_index(tmp_path / "index")
    report = load_serve.load_test(index, clients=5, seconds=3, max_growth_mib=32)
    for label in ("warm_up_round", "measured_round"):
        run = report[label]
        assert run["errors"] == 0, run["errors_by_kind"]
        assert run["requests"] > 10 and run["requests_per_s"] > 0 and 0 < run["p50_ms"] <= run["p99_ms"]
        assert set(run["statuses"]) == {200}
    assert report["rss_mib"]["before"] > 10 and report["ok"]


def test_the_client_counts_refusals_as_errors(tmp_path):
    """The bar is 0 errors, so the counter must see them: a server with an API key refuses every request."""
    import asyncio

    load_serve = _module()
    index = load_serve.build_demo_index(tmp_path / "index")
    server = load_serve.Server(index, api_key="secret")
    try:
        refused = asyncio.run(load_serve.run_load(server.url, clients=2, seconds=1))
        allowed = asyncio.run(
            load_serve.run_load(server.url, clients=2, seconds=1, headers={"Authorization": "Bearer secret"})
        )
    finally:
        server.stop()
    assert refused["errors"] == refused["requests"] > 0 and refused["errors_by_kind"] == {
        "HTTP 401": refused["requests"]
    }
    assert allowed["errors"] == 0 and allowed["requests"] > 0


def test_short_capacity_run_puts_offline_and_served_numbers_side_by_side(tmp_path, capsys):
    """The benchmark's main report on a second-long run: in-process numbers, closed and open loop, no errors."""
    from embedproof.datasets.loading import load_dataset

    load_serve = _module()
    index = load_serve.build_demo_index(tmp_path / "index")
    queries = list(load_dataset("demo").queries.values())
    report = load_serve.capacity(index, queries, clients=(1, 4), seconds=0.5, rates=(0.5,), paired_per_round=20)
    paired = report["paired_single_client"]
    assert (
        paired["errors"] == 0
        and 0 < paired["in_process_p50_ms"]
        and 0 < paired["server_p50_ms"]
        and paired["ratio_p50"] > 0
    )
    for local in report["in_process"]:
        assert 0 < local["online_p50_ms"] <= local["online_p99_ms"] and local["offline_queries_per_s"] > 0
    assert [r["clients"] for r in report["closed_loop"]] == [1, 4] and report["ok"]
    for run in [report["warm_up"], *report["closed_loop"], *report["open_loop"], report["repeat"]]:
        assert run["errors"] == 0 and run["requests"] > 0 and 0 < run["p50_ms"] <= run["p99_ms"], run
    assert report["open_loop"][0]["offered_per_s"] > 0 and report["closed_loop"][0]["mean_batch"] == 1
    load_serve.print_capacity(report)
    printed = capsys.readouterr().out
    assert "in-process, 100-query batches" in printed and "open loop at 50%" in printed and "PASS" in printed
    assert "interleaved (5 rounds of 20 queries each way" in printed


DOC = SCRIPT.parents[1] / "docs" / "serving.md"


def test_the_commands_and_options_in_docs_serving_are_accepted(monkeypatch):
    """Every command the doc shows parses (`embedproof serve` runs with serve recorded, not started); its Python
    example runs; the defaults in its table are BatchOptions' own."""
    import re
    import shlex

    from typer.testing import CliRunner

    import embedproof.server.app
    from embedproof.cli import app
    from embedproof.server.batching import BatchOptions

    text = DOC.read_text(encoding="utf-8")
    commands = [line for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S) for line in block.splitlines()]
    assert len(commands) >= 4
    load_serve = _module()
    called = []
    monkeypatch.setattr(embedproof.server.app, "serve", lambda *args, **kwargs: called.append(kwargs["batching"]))
    for line in commands:
        if line.startswith("embedproof serve "):
            result = CliRunner().invoke(app, shlex.split(line)[1:])
            assert result.exit_code == 0, (line, result.output)
            continue
        assert line.startswith("python benchmarks/load_serve.py"), line
        load_serve.parse_args(shlex.split(line)[2:])
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        exec(block, {})
    assert called == [BatchOptions(), BatchOptions()]  # the CLI line and the Python example spell out the defaults
    defaults = BatchOptions()
    for field in ("max_batch", "max_tokens", "max_wait_ms", "max_queue"):
        flag = "--" + field.replace("_", "-")
        shown = re.search(rf"\| `{field}` \| `{flag}` \| ([0-9.,]+) \|", text).group(1).replace(",", "")
        assert float(shown) == getattr(defaults, field), field
