"""Bad input, round 3 (issue 26): damaged or hostile files, names, services and option combinations.

Every case runs the real CLI and must end in exactly one `error:` line naming the problem and exit code 2, never a
traceback; each class is a table over every command that reads that kind of input.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket

import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from tests.cli.test_errors import one_error_line

runner = CliRunner()

RUN = {
    "model": "hashing",
    "mode": "dense",
    "precision": "float32",
    "metrics": {"ndcg@10": 0.41},
    "bytes_per_vector": 4096.0,
    "latency": {"online_ms": {"total": {"p99": 1.5}}},
}


def refused(args: list[str], names: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert line.startswith("error: ") and names in line, line
    return line


# -- text that is not valid Unicode: refused, naming the file and line ------------------------------------------------


@pytest.fixture
def surrogate_corpus(tmp_path):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text('{"_id": "d1", "text": "fine"}\n{"_id": "d2", "text": "bad \\ud800 text"}\n')
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "fine"}\n')
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    queries = tmp_path / "queries_beir"
    shutil.copytree(beir, queries)
    (queries / "corpus.jsonl").write_text('{"_id": "d1", "text": "fine"}\n')
    (queries / "queries.jsonl").write_text('{"_id": "q1", "text": "\\udfff"}\n')
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"ok \xed\xa0\x80 surrogate encoded as UTF-8 bytes")
    return {"corpus": beir / "corpus.jsonl", "beir": beir, "queries": queries, "folder": folder, "tmp": tmp_path}


UNICODE = [
    (["dataset", "check", "{corpus}"], "corpus.jsonl, line 2: not valid Unicode"),
    (["dataset", "check", "{beir}"], "corpus.jsonl, line 2: not valid Unicode"),
    (["dataset", "check", "{queries}"], "queries.jsonl, line 1: not valid Unicode"),
    (["profile", "{corpus}"], "line 2: not valid Unicode"),
    (["index", "build", "--mode", "dense", "-m", "hashing", "--corpus", "{corpus}", "--out", "{tmp}/i"], "line 2"),
    (["bench", "-d", "{queries}", "-m", "hashing", "--no-latency", "-o", "{tmp}/r.json"], "queries.jsonl, line 1"),
    (["dataset", "check", "{folder}"], "a.txt, line 1: not valid UTF-8"),
    (["search", "{tmp}", "\udcff"], "not valid UTF-8 text"),  # an argument whose bytes are not UTF-8
]


@pytest.mark.parametrize("args, names", UNICODE, ids=[" ".join(a[:2]) + f" {i}" for i, (a, _) in enumerate(UNICODE)])
def test_text_that_is_not_unicode_is_refused_naming_file_and_line(surrogate_corpus, args, names):
    refused([a.format(**surrogate_corpus) for a in args], names)


def test_index_add_refuses_a_surrogate_in_its_input(tmp_path, surrogate_corpus, index_folder):
    refused(["index", "add", index_folder, "--corpus", surrogate_corpus["corpus"]], "line 2: not valid Unicode")


# -- model names -------------------------------------------------------------------------------------------------------

MODELS = [
    ("hashing-abc", "'hashing' or 'hashing-DIM'"),
    ("hashing-99999999999", "must lie in [1, 65,536]"),
    ("hashing-" + "9" * 5000, "must lie in"),
    ("hashing-0", "must lie in"),
    ("{dir}", "is not a model folder: it has no config.json"),
    ("{badconfig}", "names no model_type"),
]


@pytest.mark.parametrize("name, names", MODELS, ids=[n[:20] for n, _ in MODELS])
@pytest.mark.parametrize("command", ["bench", "index build", "models show"])
def test_a_model_name_that_is_no_model_is_one_line(tmp_path, name, names, command):
    (tmp_path / "notamodel").mkdir()
    (tmp_path / "badconfig").mkdir()
    (tmp_path / "badconfig" / "config.json").write_text('{"hidden_size": 8}')
    name = name.format(dir=tmp_path / "notamodel", badconfig=tmp_path / "badconfig")
    args = {
        "bench": ["bench", "-m", name, "--no-latency", "-o", tmp_path / "r.json"],
        "index build": ["index", "build", "--mode", "dense", "-m", name, "--corpus", "demo", "--out", tmp_path / "i"],
        "models show": ["models", "show", name],
    }[command]
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output and result.exit_code in (0, 2), result.output
    if command == "models show" and result.exit_code == 0:
        return  # `models show` describes a name without loading it: "unknown" is its answer, not an error
    line = one_error_line(result.stderr)
    assert names in line, line


# -- services that do not answer ---------------------------------------------------------------------------------------


def test_an_unreachable_qdrant_url_is_one_line_naming_it(tmp_path):
    pytest.importorskip("qdrant_client")
    url = "http://127.0.0.1:1"
    args = ["index", "build", "--backend", "qdrant", "--qdrant-url", url, "--mode", "dense", "-m", "hashing"]
    line = refused([*args, "--corpus", "demo", "--out", tmp_path / "i"], f"cannot reach {url}")
    assert "refused" in line.lower()


def test_the_connection_mapping_finds_the_url_behind_a_client_wrapper():
    httpx = pytest.importorskip("httpx")
    from embedproof.cli.common import unreachable

    request = httpx.Request("GET", "http://qdrant.example:6333/collections/x")
    inner = httpx.ConnectError("[Errno 111] Connection refused", request=request)

    class ResponseHandlingException(Exception):  # qdrant-client's wrapper, which keeps the error as `source`
        def __init__(self, source):
            super().__init__(str(source))
            self.source = source

    assert unreachable(ResponseHandlingException(inner)) == (
        "cannot reach http://qdrant.example:6333: [Errno 111] Connection refused (is it running, and is the URL right?)"
    )
    assert unreachable(ConnectionRefusedError(111, "Connection refused")).startswith("cannot reach the service")
    assert unreachable(KeyError("a bug")) is None


# -- results, recipe and profile files ---------------------------------------------------------------------------------

HOSTILE = {
    "nested": "[" * 30_000 + "]" * 30_000,
    "big_int": '{"runs": [], "x": ' + "9" * 5000 + "}",
    "huge_int_field": json.dumps({"runs": [{**RUN, "bytes_per_vector": 10**4000}]}),
    "negative_size": json.dumps({"runs": [{**RUN, "bytes_per_vector": -1.0}]}),
    "runs_not_objects": json.dumps({"runs": [1, "two"]}),
    "duplicate_run": json.dumps({"runs": [RUN, {**RUN, "metrics": {"ndcg@10": 0.9}}]}),
    "bad_metric": json.dumps({"runs": [{**RUN, "metrics": {"ndcg@10": 7}}]}),
    "bad_dim": json.dumps({"runs": [{**RUN, "dim": "wide"}]}),
    "surrogate": '{"runs": [], "dataset": {"name": "\\ud800"}}',
    "oversize": " " * (64 * 1024 + 10) + "{}",
}
EXPECTED = {
    "nested": "nested too deeply",
    "big_int": "more than 4,300 digits",
    "huge_int_field": "runs[0].bytes_per_vector",
    "negative_size": "runs[0].bytes_per_vector",
    "runs_not_objects": "runs[0]",
    "duplicate_run": "is also runs[0]",
    "bad_metric": "runs[0].metrics.ndcg@10",
    "bad_dim": "runs[0].dim",
    "surrogate": "not valid Unicode",
    "oversize": "65,536-byte limit",
}


@pytest.fixture
def small_limit(monkeypatch):
    """User JSON files bounded at 64 KiB here, so the size limit and /dev/zero are checked without 256 MiB reads."""
    import embedproof.files

    monkeypatch.setattr(embedproof.files, "MAX_JSON_BYTES", 64 * 1024)


@pytest.mark.parametrize("kind", list(HOSTILE))
@pytest.mark.parametrize("command", ["compare", "compare-two", "pick", "report"])
def test_a_hostile_results_file_is_one_line_in_every_reader(tmp_path, small_limit, kind, command):
    path = tmp_path / "results.json"
    path.write_text(HOSTILE[kind])
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"runs": [RUN]}))
    args = {
        "compare": ["compare", path, "--pair", "a=b"],
        "compare-two": ["compare", good, path],
        "pick": ["pick", "--results", path],
        "report": ["report", path, "--output", tmp_path / "r.html"],
    }[command]
    line = refused(args, EXPECTED[kind])
    assert str(path) in line
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("kind", ["nested", "big_int", "surrogate", "oversize"])
def test_recipe_and_profile_files_are_read_the_same_bounded_way(tmp_path, small_limit, kind):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(HOSTILE[kind])
    refused(["bench", "--recipe", recipe], EXPECTED[kind])
    refused(["index", "build", "--recipe", recipe, "--corpus", "demo", "--out", tmp_path / "i"], EXPECTED[kind])
    refused(["pick", "--profile", recipe], EXPECTED[kind])


@pytest.mark.parametrize("command", ["compare", "pick", "report", "bench --recipe", "pick --profile"])
def test_dev_zero_is_refused_at_the_limit_not_read_forever(tmp_path, small_limit, command):
    args = {
        "compare": ["compare", "/dev/zero", "--pair", "a=b"],
        "pick": ["pick", "--results", "/dev/zero"],
        "report": ["report", "/dev/zero", "--output", tmp_path / "r.html"],
        "bench --recipe": ["bench", "--recipe", "/dev/zero"],
        "pick --profile": ["pick", "--profile", "/dev/zero"],
    }[command]
    refused(args, "65,536-byte limit")


def test_a_profile_of_the_wrong_shape_is_refused(tmp_path):
    profile = tmp_path / "p.json"
    for facts, field in (({"documents": -3}, "documents"), ({"documents": 5, "languages": []}, "languages")):
        profile.write_text(json.dumps(facts))
        refused(["pick", "--profile", profile], f"field {field!r}")


# -- damaged indexes ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_index(tmp_path_factory):
    from embedproof.datasets.loading import load_dataset
    from embedproof.index import build_index
    from embedproof.search.recipe import standard_recipe

    out = tmp_path_factory.mktemp("idx") / "index"
    build_index(standard_recipe("dense", "hashing-64", None), load_dataset("demo").corpus, out)
    return out


@pytest.fixture
def index_folder(tmp_path, built_index):
    copy = tmp_path / "index"
    shutil.copytree(built_index, copy)
    return str(copy)


def _damage(folder: str, kind: str, outside) -> None:
    path = os.path.join(folder, "manifest.json")
    data = json.loads(open(path).read())
    chunk = data["components"]["first:hashing-64"]["chunks"][0]
    if kind == "list":
        data = []
    elif kind == "null":
        data = None
    elif kind == "string_recipe":
        data["recipe"] = "dense"
    elif kind == "changed_model":
        data["recipe"]["first_pass"] = ["hashing-128"]
    elif kind == "absolute_docs":
        data["docs"] = [str(outside)]
    elif kind == "dotdot_chunk":
        data["components"]["first:hashing-64"]["chunks"][0] = "../" + os.path.basename(folder) + "/" + chunk
    elif kind == "symlink_docs":
        os.symlink(outside, os.path.join(folder, "link.jsonl"))
        data["docs"] = ["link.jsonl"]
        data["files"]["link.jsonl"] = data["files"]["docs.jsonl"]
    elif kind == "files_not_object":
        data["files"] = ["docs.jsonl"]
    with open(path, "w") as handle:
        json.dump(data, handle)


DAMAGE = {
    "list": "must be a JSON object",
    "null": "must be a JSON object",
    "string_recipe": "field 'recipe'",
    "changed_model": "names 'hashing-128'",
    "absolute_docs": "leaves the index folder",
    "dotdot_chunk": "leaves the index folder",
    "symlink_docs": "outside the index folder",
    "files_not_object": "field 'files'",
}


@pytest.mark.parametrize("kind", list(DAMAGE))
@pytest.mark.parametrize("command", ["search", "index info", "index add"])
def test_a_damaged_manifest_is_one_line_and_nothing_outside_is_read(tmp_path, index_folder, kind, command):
    outside = tmp_path / "secret.jsonl"
    outside.write_text('{"_id": "secret", "text": "never to be read by the index"}\n')
    _damage(index_folder, kind, outside)
    new = tmp_path / "new.jsonl"
    new.write_text('{"_id": "n1", "text": "a new passage"}\n')
    args = {
        "search": ["search", index_folder, "a query"],
        "index info": ["index", "info", index_folder],
        "index add": ["index", "add", index_folder, "--corpus", new],
    }[command]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    line = one_error_line(result.stderr)
    assert "manifest.json" in line and DAMAGE[kind] in line, line
    assert "never to be read" not in result.output


# -- options that would do nothing -------------------------------------------------------------------------------------

NOTHING = [
    (["index", "build", "--mode", "dense", "-m", "bm25", "--corpus", "demo", "--out", "{tmp}/i"], "--model bm25"),
    (
        ["index", "build", "--mode", "sparse", "-m", "hashing", "--corpus", "demo", "--out", "{tmp}/i"],
        "--model hashing",
    ),
    (
        [
            "index",
            "build",
            "--mode",
            "dense",
            "-m",
            "hashing",
            "-m",
            "hashing-64",
            "--corpus",
            "demo",
            "--out",
            "{tmp}/i",
        ],
        "--model hashing-64",
    ),
    (["bench", "--mode", "sparse", "-m", "hashing", "-m", "bm25"], "--model hashing"),
    (["bench", "--engine-dir", "{tmp}/e"], "--engine-dir"),
    (["bench", "--mode", "hybrid", "-m", "hashing", "-m", "bm25", "--engine-dir", "{tmp}/e"], "--engine-dir"),
    (["bench", "--rerank-top", "20"], "--rerank-top"),
    (["bench", "--mode", "hybrid", "-m", "hashing", "-m", "bm25", "--rerank-top", "20"], "--rerank-top"),
    (["bench", "--mode", "dense", "-m", "hashing", "--reranker", "cross-encoder:x"], "--reranker"),
    (["bench", "-m", "bm25", "--dims", "64"], "--dims"),
    (["bench", "-m", "bm25", "--precision", "int8"], "--precision"),
    (["bench", "-m", "bm25", "--chunk-tokens", "64", "--chunk-overlap", "0"], "--chunk-tokens"),
    (["bench", "--dims", ","], "--dims"),
    (["bench", "--dims", ""], "--dims"),
    (["pick", "--results", "{results}", "--domain", "legal"], "--domain"),
    (["pick", "--results", "{results}", "--target", "edge"], "--target"),
    (["pick", "--results", "{results}", "--docs", "5"], "--docs"),
    (["pick", "--docs", "5", "--vectors", "10"], "--vectors"),
    (["cost", "--dim", "384", "--vectors", "0"], "vector count"),
    (["cost", "--dim", "384", "--vectors", "0.4"], "vector count"),
]


@pytest.mark.parametrize("args, names", NOTHING, ids=[" ".join(a) for a, _ in NOTHING])
def test_an_option_that_would_do_nothing_is_refused(tmp_path, args, names):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"runs": [RUN]}))
    line = refused([a.format(tmp=tmp_path, results=results) for a in args], names)
    assert line.startswith(f"error: {names}") or names == "vector count"


# -- serve start-up ----------------------------------------------------------------------------------------------------


def test_serve_on_a_port_in_use_or_a_bad_host_is_one_line(tmp_path):
    pytest.importorskip("uvicorn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        refused(["serve", tmp_path, "--port", str(port)], f"--port: {port} is already in use")
    refused(["serve", tmp_path, "--host", "no such host.invalid"], "--host: cannot resolve")
    refused(["serve", tmp_path, "--host", "192.0.2.1"], "--host: 192.0.2.1 is not an address of this machine")


# -- a full disk ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [OSError(errno.ENOSPC, "No space left on device"), OSError("245760 requested and 2016 written")],
    ids=["ENOSPC", "short write"],
)
def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch, failure):
    import embedproof.files

    target = tmp_path / "profile.json"
    target.write_text("old")

    def full(fd):
        raise failure

    monkeypatch.setattr(embedproof.files.os, "fsync", full)
    line = refused(["profile", "demo", "--json", target], f"cannot write {target}")
    assert str(failure.strerror or failure) in line
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["profile.json"]
