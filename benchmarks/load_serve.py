"""Load benchmark for `embedproof serve` on loopback: the same index offline, in-process and over HTTP, side by side.

One run on one index measures, in this order:
- in-process, as bench times a recipe: one query at a time through `SearchIndex.search` (p50/p99, encoders live,
  no embedding cache), and offline throughput in 100-query batches through `SearchIndex.search_many`; once with
  the process's default compute threads and once with the server worker's (all cores but one);
- the server (`embedproof serve` in a subprocess), closed loop: a warm-up round that reaches the largest batch, then
  1, 4, 16 and 64 clients each keeping one `POST /search` in flight; queries/s, p50/p99, the mean batch the server
  formed, errors, and its resident memory (VmRSS) after the warm-up and after every round;
- one query at a time in-process (at the worker's thread count) and one client on the server, alternating in
  rounds of 100 queries, so the ratio of their p50s is not skewed by the machine's load changing between the two;
- open loop: requests sent at a fixed mean rate (Poisson arrivals, seeded) at 50% and 90% of the best closed-loop
  throughput; latency counts from each request's scheduled send time, so a slow answer cannot hide the queue
  behind it (coordinated omission).
The load generator (benchmarks/loadgen.py) is a minimal keep-alive HTTP/1.1 client on asyncio streams: it shares
the machine's cores with the server, and an httpx client spends about 8× its CPU per request.

Exit status 1 on any failed request (non-2xx or transport error) or when the server's memory grew by more than
`--max-growth-mib` while the largest closed-loop round ran a second time, at the end. (glibc's allocator lets RSS
rise to a plateau over the first rounds of large batches: with `MALLOC_MMAP_THRESHOLD_=131072` it stays flat from
the warm-up on, at about 20% less throughput, measured here.)

    python benchmarks/load_serve.py                                   # demo corpus, hashing + BM25 hybrid
    python benchmarks/load_serve.py --dense sentence-transformers/all-MiniLM-L6-v2 --dataset ../shared/datasets/scifact
    python benchmarks/load_serve.py --mixed --clients 50 --seconds 30 # the older mixed /search + /v1/embeddings check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Connection, closed_loop, open_loop, send, summary  # noqa: E402

MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux /proc), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def build_demo_index(folder: Path, dense: str = "hashing", dataset: str = "demo") -> Path:
    """A hybrid (dense + BM25, RRF) index of a corpus (the built-in demo by default)."""
    from embedproof.datasets.loading import load_dataset
    from embedproof.index.access import build_index
    from embedproof.search.recipe import standard_recipe

    build_index(standard_recipe("hybrid", dense, "bm25"), load_dataset(dataset).corpus, folder, chunk_size=128)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`embedproof serve` in a subprocess on a free loopback port; its log goes to a file, not a pipe."""

    def __init__(
        self,
        index: Path,
        api_key: str | None = None,
        startup_s: float = 120.0,
        batching: dict | None = None,
        args: tuple[str, ...] = (),
    ):
        """`args`: further `serve` flags (`--writable`)."""
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="embedproof-serve-", suffix=".log", delete=False)
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        env.pop("EMBEDPROOF_API_KEY", None)  # only the key asked for here
        if api_key:
            env["EMBEDPROOF_API_KEY"] = api_key
        command = [sys.executable, "-m", "embedproof", "serve", str(index), "--port", str(self.port)]
        for name, value in (batching or {}).items():  # BatchOptions fields, as `serve` flags
            command += [f"--{name.replace('_', '-')}", str(value)]
        command += list(args)
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + startup_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}: {Path(self.log.name).read_text()[-2000:]}"
                )
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not answer /health within {startup_s:.0f} s")

    @property
    def rss(self) -> int:
        return rss_bytes(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        os.unlink(self.log.name)


def in_process(
    index_dir: Path,
    queries: list[str],
    threads: tuple[int | None, ...] = (None,),
    online: int = 200,
    batch_size: int = 100,
    min_seconds: float = 3.0,
) -> list[dict]:
    """What bench measures, once per compute-thread count (None: the process default): one query at a time
    (p50/p99) and 100-query batches (queries/s), through the index's own search path."""
    from embedproof.index.access import live_queries, open_index
    from embedproof.server.batching import limit_threads

    index = open_index(index_dir)
    live_queries(index)
    out = []
    for count in threads:
        torch = sys.modules.get("torch")
        if count is not None:
            if count in [r["threads"] for r in out]:
                continue
            limit_threads(count)
        index.search_many(queries[:batch_size], 10)  # warm-up: thread pools, allocator, the batch shapes
        for query in queries[:5]:
            index.search(query, 10)
        one = []
        for i in range(online):
            began = time.perf_counter()
            index.search(queries[i % len(queries)], 10)
            one.append(time.perf_counter() - began)
        done, began = 0, time.perf_counter()
        while done < 3 * batch_size or time.perf_counter() - began < min_seconds:
            index.search_many([queries[(done + j) % len(queries)] for j in range(batch_size)], 10)
            done += batch_size
        elapsed = time.perf_counter() - began
        ms = np.array(one) * 1000
        used = count or (torch.get_num_threads() if torch else os.cpu_count())
        out.append(
            {
                "threads": used,
                "default": count is None,
                "online_p50_ms": round(float(np.percentile(ms, 50)), 2),
                "online_p99_ms": round(float(np.percentile(ms, 99)), 2),
                "offline_queries_per_s": round(done / elapsed, 1),
                "batch_size": batch_size,
                "documents": len(index.ids),
                "recipe": index.recipe.name,
                "first_pass": list(index.recipe.first_pass),
            }
        )
    return out


def paired_single_client(
    index_dir: Path, port: int, queries: list[str], threads: int, rounds: int = 5, per_round: int = 100
) -> dict:
    """One query at a time in-process and one client on the server, alternating `per_round` queries each for
    `rounds` rounds, so both see the same machine (on a shared machine the load moves within seconds, and two
    measurements taken a minute apart can differ by a third). The in-process side runs the worker's thread count."""
    from embedproof.index.access import live_queries, open_index
    from embedproof.server.batching import limit_threads

    limit_threads(threads)
    index = open_index(index_dir)
    live_queries(index)
    bodies = [json.dumps({"query": q, "top_k": 10}).encode() for q in queries]
    for query in queries[:5]:
        index.search(query, 10)
    local: list[float] = []
    served: list[float] = []
    errors: Counter = Counter()

    async def one_client(offset: int) -> None:
        conn = Connection(port)
        for i in range(offset, offset + per_round):
            began = time.perf_counter()
            if await send(conn, bodies[i % len(bodies)], errors, []):
                served.append(time.perf_counter() - began)
        conn.close()

    for r in range(rounds):
        for i in range(r * per_round, (r + 1) * per_round):
            began = time.perf_counter()
            index.search(queries[i % len(queries)], 10)
            local.append(time.perf_counter() - began)
        asyncio.run(one_client(r * per_round))
    p50 = lambda xs: round(float(np.percentile(np.array(xs) * 1000, 50)), 3)  # noqa: E731
    p99 = lambda xs: round(float(np.percentile(np.array(xs) * 1000, 99)), 3)  # noqa: E731
    return {
        "threads": threads,
        "rounds": rounds,
        "per_round": per_round,
        "errors": sum(errors.values()),
        "in_process_p50_ms": p50(local),
        "in_process_p99_ms": p99(local),
        "server_p50_ms": p50(served),
        "server_p99_ms": p99(served),
        "ratio_p50": round(p50(served) / p50(local), 2),
    }


def capacity(
    index_dir: Path,
    queries: list[str],
    clients: tuple[int, ...] = (1, 4, 16, 64),
    seconds: float = 10.0,
    rates: tuple[float, ...] = (0.5, 0.9),
    batching: dict | None = None,
    max_growth_mib: float = 32.0,
    paired_per_round: int = 100,
) -> dict:
    """In-process numbers, then one server: a warm-up round, closed-loop rounds, open-loop rounds, and the largest
    closed-loop round again, whose RSS growth is the memory check (see module doc)."""
    from embedproof.server.batching import BatchOptions, default_threads

    load_before = os.getloadavg()
    server_threads = (batching or {}).get("threads") or default_threads()
    local = in_process(index_dir, queries, (None, server_threads), min_seconds=min(seconds, 5.0))
    bodies = [json.dumps({"query": q, "top_k": 10}).encode() for q in queries]
    server = Server(index_dir, batching=batching)
    try:
        rss = {"before": server.rss}
        # the warm-up reaches the largest batch the server forms, so the allocator has seen every shape it will hold
        warm_clients = max(*clients, (batching or {}).get("max_batch") or BatchOptions().max_batch)
        warm_up = asyncio.run(closed_loop(server.port, warm_clients, seconds, bodies))
        rss["after_warm_up"] = server.rss
        paired = paired_single_client(index_dir, server.port, queries, server_threads, per_round=paired_per_round)
        rounds = []
        for n in clients:
            result = asyncio.run(closed_loop(server.port, n, seconds, bodies))
            rounds.append(result | {"rss_mib": round(server.rss / MIB, 1)})
        best = max(r["queries_per_s"] for r in rounds)
        opened = []
        for fraction in rates:
            result = asyncio.run(open_loop(server.port, max(1.0, fraction * best), seconds, bodies, seed=len(opened)))
            opened.append({"fraction": fraction, **result, "rss_mib": round(server.rss / MIB, 1)})
        rss["before_repeat"] = server.rss
        repeat = asyncio.run(closed_loop(server.port, max(clients), seconds, bodies))
        rss["after"] = server.rss
    finally:
        server.stop()
    growth = (rss["after"] - rss["before_repeat"]) / MIB
    errors = sum(r["errors"] for r in [warm_up, paired, *rounds, *opened, repeat])
    return {
        "index": str(index_dir),
        "in_process": local,
        "warm_up": warm_up,
        "paired_single_client": paired,
        "closed_loop": rounds,
        "open_loop": opened,
        "repeat": repeat,
        "rss_mib": {k: round(v / MIB, 1) for k, v in rss.items()},
        "growth_after_warm_up_mib": round((rss["after"] - rss["after_warm_up"]) / MIB, 1),
        "growth_in_repeat_mib": round(growth, 1),
        "max_growth_mib": max_growth_mib,
        "batching": batching or {},
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "ok": errors == 0 and growth <= max_growth_mib,
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _threads(measured: dict) -> str:
    return f"{measured['threads']} thread{'s' if measured['threads'] > 1 else ''}"


def print_capacity(report: dict) -> None:
    """The report as a Markdown table, then the ratios the serving targets are stated in."""
    local = report["in_process"]
    load = report["load_average"]
    print(
        f"index {report['index']}: {local[0]['recipe']} ({' + '.join(local[0]['first_pass'])}), "
        f"{local[0]['documents']:,} documents; {report['cpu']}, {report['cpus']} CPUs; "
        f"1-minute load average {load['before'][0]:.2f} before, {load['after'][0]:.2f} after"
    )
    print("| measured | queries/s | p50 ms | p99 ms | mean batch | errors | server RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in local:
        threads = _threads(r) + (" (default)" if r["default"] else "")
        print(
            f"| in-process, one query at a time, {threads} | {1000 / r['online_p50_ms']:.1f} "
            f"| {r['online_p50_ms']:.2f} "
            f"| {r['online_p99_ms']:.2f} | 1 | | |"
        )
        print(
            f"| in-process, {r['batch_size']}-query batches, {threads} | {r['offline_queries_per_s']:.1f} | | "
            f"| {r['batch_size']} | | |"
        )
    served = [
        (f"server, {r['clients']} closed-loop client{'s' if r['clients'] > 1 else ''}", r)
        for r in report["closed_loop"]
    ]
    served += [
        (f"server, open loop at {r['fraction']:.0%} ({r['offered_per_s']}/s offered)", r) for r in report["open_loop"]
    ]
    for label, r in served:
        print(
            f"| {label} | {r['queries_per_s']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['mean_batch'] or 0} "
            f"| {r['errors']} | {r['rss_mib']} |"
        )
    by_clients = {r["clients"]: r for r in report["closed_loop"]}
    for r in local:
        if 1 in by_clients:
            ratio = by_clients[1]["p50_ms"] / r["online_p50_ms"]
            print(f"single-client p50 / in-process p50 ({_threads(r)}): {ratio:.2f}×")
        for n, served_round in by_clients.items():
            if n >= 16:
                print(
                    f"{n} clients / offline batches ({_threads(r)}): "
                    f"{served_round['queries_per_s'] / r['offline_queries_per_s']:.0%} of the throughput"
                )
    if 1 in by_clients:
        for n, r in by_clients.items():
            if n >= 16:
                print(f"{n} clients: p99 = {r['p99_ms'] / by_clients[1]['p50_ms']:.1f}× the single-client p50")
    paired = report["paired_single_client"]
    print(
        f"interleaved ({paired['rounds']} rounds of {paired['per_round']} queries each way, {_threads(paired)}): "
        f"in-process p50 {paired['in_process_p50_ms']:.3f} ms, one server client p50 {paired['server_p50_ms']:.3f} ms: "
        f"{paired['ratio_p50']:.2f}×"
    )
    m, repeat = report["rss_mib"], report["repeat"]
    print(
        f"server RSS: {m['before']} MiB at start, {m['after_warm_up']} MiB after the warm-up round "
        f"({report['warm_up']['requests']} requests, {report['warm_up']['errors']} errors), {m['before_repeat']} MiB "
        f"after the rounds above, {m['after']} MiB after the {repeat['clients']}-client round again "
        f"({repeat['queries_per_s']} queries/s, {repeat['errors']} errors): growth in that round "
        f"{report['growth_in_repeat_mib']} MiB (limit {report['max_growth_mib']} MiB), "
        f"{report['growth_after_warm_up_mib']} MiB since the warm-up"
    )
    print("PASS" if report["ok"] else "FAIL")


async def run_load(
    base_url: str, clients: int = 50, seconds: float = 30.0, seed: int = 0, headers: dict | None = None
) -> dict:
    """The mixed check: `clients` httpx workers (70% /search, 30% /v1/embeddings), one request in flight each."""
    from embedproof.datasets.loading import load_dataset

    demo = load_dataset("demo")
    queries, passages = list(demo.queries.values()), [d.full_text for d in demo.corpus.values()]
    latencies: list[float] = []
    errors: Counter = Counter()
    statuses: Counter = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0, headers=headers) as client:
        deadline = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            rng = random.Random(seed * 1000 + n)
            while time.perf_counter() < deadline:
                if rng.random() < 0.7:
                    path, body = "/search", {"query": rng.choice(queries), "top_k": rng.randint(1, 20)}
                else:
                    path, body = "/v1/embeddings", {"input": rng.sample(passages, rng.randint(1, 8))}
                    if rng.random() < 0.3:
                        body.update(dimensions=64, encoding_format="base64")
                start = time.perf_counter()
                try:
                    response = await client.post(path, json=body)
                    await response.aread()
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - start)
                statuses[response.status_code] += 1
                if not 200 <= response.status_code < 300:
                    errors[f"HTTP {response.status_code}"] += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(clients)))
        elapsed = time.perf_counter() - began
    measured = summary(latencies, elapsed, errors, [])
    return {"clients": clients, **measured, "requests_per_s": measured["queries_per_s"], "statuses": dict(statuses)}


def load_test(index: Path, clients: int, seconds: float, max_growth_mib: float = 32.0) -> dict:
    """The mixed check, two rounds against a fresh server; `ok` is False on any error or growth in round 2."""
    server = Server(index)
    try:
        before = server.rss
        first = asyncio.run(run_load(server.url, clients, seconds, seed=1))
        after_first = server.rss
        second = asyncio.run(run_load(server.url, clients, seconds, seed=2))
        after_second = server.rss
    finally:
        server.stop()
    growth = (after_second - after_first) / MIB
    return {
        "index": str(index),
        "warm_up_round": first,
        "measured_round": second,
        "rss_mib": {
            "before": round(before / MIB, 1),
            "after_round_1": round(after_first / MIB, 1),
            "after_round_2": round(after_second / MIB, 1),
        },
        "growth_round_2_mib": round(growth, 1),
        "max_growth_mib": max_growth_mib,
        "ok": first["errors"] == 0 and second["errors"] == 0 and growth <= max_growth_mib,
    }


def print_load_test(report: dict) -> None:
    for label in ("warm_up_round", "measured_round"):
        r = report[label]
        print(
            f"{label:15} {r['clients']} clients × {r['seconds']} s: {r['requests']} requests, "
            f"{r['requests_per_s']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms, "
            f"errors {r['errors']} {r['errors_by_kind'] or ''}"
        )
    m = report["rss_mib"]
    print(
        f"server RSS      before {m['before']} MiB, after round 1 {m['after_round_1']} MiB, "
        f"after round 2 {m['after_round_2']} MiB "
        f"(growth in round 2: {report['growth_round_2_mib']} MiB, limit {report['max_growth_mib']} MiB)"
    )
    print("PASS" if report["ok"] else "FAIL")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="demo", help="corpus and queries: demo or a BEIR folder (e.g. SciFact)")
    parser.add_argument("--dense", default="hashing", help="dense model of the hybrid index built here")
    parser.add_argument("--index", type=Path, help="serve this index folder instead of building one")
    parser.add_argument("--clients", default="1,4,16,64", help="closed-loop client counts (--mixed: the largest)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each round")
    parser.add_argument("--rates", default="0.5,0.9", help="open-loop rates, fractions of the best closed-loop rate")
    parser.add_argument("--max-wait-ms", type=float, help="server: longest a batch waits for more requests")
    parser.add_argument("--threads", type=int, help="server: torch threads of the inference worker")
    parser.add_argument("--max-batch", type=int, help="server: texts per batch")
    parser.add_argument("--max-growth-mib", type=float, default=32.0, help="allowed RSS growth in the repeated round")
    parser.add_argument("--mixed", action="store_true", help="run the mixed /search + /v1/embeddings check instead")
    parser.add_argument("--json", type=Path, help="also write the report here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clients = tuple(int(c) for c in args.clients.split(","))
    chosen = (("max_wait_ms", args.max_wait_ms), ("threads", args.threads), ("max_batch", args.max_batch))
    batching = {k: v for k, v in chosen if v is not None}
    with tempfile.TemporaryDirectory(prefix="embedproof-load-") as tmp:
        index = args.index or build_demo_index(Path(tmp) / "index", args.dense, args.dataset)
        if args.mixed:
            report = load_test(index, max(clients), args.seconds, args.max_growth_mib)
            print_load_test(report)
        else:
            from embedproof.datasets.loading import load_dataset

            queries = list(load_dataset(args.dataset).queries.values())
            report = capacity(
                index,
                queries,
                clients,
                args.seconds,
                tuple(float(r) for r in args.rates.split(",")),
                batching or None,
                args.max_growth_mib,
            )
            print_capacity(report)
    if args.json:
        from embedproof.files import write_json_atomic

        write_json_atomic(args.json, report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
