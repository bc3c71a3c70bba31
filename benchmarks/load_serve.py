"""Load test for `embedpick serve` on loopback: requests/s, p50/p99 latency, errors, and the server's memory.

Starts `python -m embedpick serve INDEX` in a subprocess (by default on a hybrid index of the demo corpus built
here with the `hashing` dense model and BM25; `--dense all-MiniLM-L6-v2` or `--index FOLDER` for a real one), then
runs a bounded asyncio client (httpx): `--clients` workers, each sending one request at a time for `--seconds`, a
mix of POST /search (random demo query, top_k 1..20) and POST /v1/embeddings (1..8 demo passages, sometimes with
`dimensions` and base64). It does this twice: the first round warms the server up, the second shows growth.
The server's resident memory (VmRSS from /proc) is read before, after round 1 and after round 2.

Exit status 1 when any request failed (non-2xx or a transport error) or when memory grew by more than
`--max-growth-mib` between the two rounds; the numbers are printed as a table and, with `--json`, as JSON.

    python benchmarks/load_serve.py                          # 50 clients, 30 s per round
    python benchmarks/load_serve.py --clients 5 --seconds 3  # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
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

MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux /proc), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def build_demo_index(folder: Path, dense: str = "hashing") -> Path:
    """A hybrid (dense + BM25, RRF) index of the built-in demo corpus."""
    from embedpick.evaluation.datasets import load_dataset
    from embedpick.index.store import build_index
    from embedpick.recipe import standard_recipe

    build_index(standard_recipe("hybrid", dense, "bm25"), load_dataset("demo").corpus, folder, chunk_size=128)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m embedpick serve` in a subprocess on a free loopback port; its log goes to a file, not a pipe."""

    def __init__(self, index: Path, api_key: str | None = None, startup_s: float = 120.0):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="embedpick-serve-", suffix=".log", delete=False)
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        env.pop("EMBEDPICK_API_KEY", None)  # only the key asked for here
        if api_key:
            env["EMBEDPICK_API_KEY"] = api_key
        self.process = subprocess.Popen([sys.executable, "-m", "embedpick", "serve", str(index), "--port", str(self.port)],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + startup_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {Path(self.log.name).read_text()[-2000:]}")
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


def _requests(seed: int):
    """An endless, seeded mix of (path, body): 70% search, 30% embeddings."""
    from embedpick.evaluation.datasets import load_dataset

    demo = load_dataset("demo")
    queries, passages = list(demo.queries.values()), [d.full_text for d in demo.corpus.values()]
    rng = random.Random(seed)
    while True:
        if rng.random() < 0.7:
            yield "/search", {"query": rng.choice(queries), "top_k": rng.randint(1, 20)}
        else:
            body = {"input": rng.sample(passages, rng.randint(1, 8))}
            if rng.random() < 0.3:
                body.update(dimensions=64, encoding_format="base64")
            yield "/v1/embeddings", body


async def run_load(base_url: str, clients: int = 50, seconds: float = 30.0, seed: int = 0, headers: dict | None = None) -> dict:
    """`clients` concurrent workers, one request in flight each, for `seconds`; latencies and errors by kind."""
    latencies: list[float] = []
    errors: Counter = Counter()
    statuses: Counter = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0, headers=headers) as client:
        deadline = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            for path, body in _requests(seed * 1000 + n):
                if time.perf_counter() >= deadline:
                    return
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
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {"clients": clients, "seconds": round(elapsed, 2), "requests": len(latencies) + sum(v for k, v in errors.items() if not k.startswith("HTTP")),
            "requests_per_s": round(len(latencies) / elapsed, 1), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1), "statuses": dict(statuses), "errors": sum(errors.values()), "errors_by_kind": dict(errors)}


def load_test(index: Path, clients: int, seconds: float, max_growth_mib: float = 32.0) -> dict:
    """Two rounds against a fresh server; `ok` is False on any error or on growth beyond `max_growth_mib`."""
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
    return {"index": str(index), "warm_up_round": first, "measured_round": second,
            "rss_mib": {"before": round(before / MIB, 1), "after_round_1": round(after_first / MIB, 1), "after_round_2": round(after_second / MIB, 1)},
            "growth_round_2_mib": round(growth, 1), "max_growth_mib": max_growth_mib,
            "ok": first["errors"] == 0 and second["errors"] == 0 and growth <= max_growth_mib}


def _print(report: dict) -> None:
    for label in ("warm_up_round", "measured_round"):
        r = report[label]
        print(f"{label:15} {r['clients']} clients × {r['seconds']} s: {r['requests']} requests, {r['requests_per_s']} req/s, "
              f"p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms, errors {r['errors']} {r['errors_by_kind'] or ''}")
    m = report["rss_mib"]
    print(f"server RSS      before {m['before']} MiB, after round 1 {m['after_round_1']} MiB, after round 2 {m['after_round_2']} MiB "
          f"(growth in round 2: {report['growth_round_2_mib']} MiB, limit {report['max_growth_mib']} MiB)")
    print("PASS" if report["ok"] else "FAIL")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each of the two rounds")
    parser.add_argument("--index", type=Path, help="an index folder (default: build a demo hybrid index)")
    parser.add_argument("--dense", default="hashing", help="dense model for the default demo index (e.g. all-MiniLM-L6-v2)")
    parser.add_argument("--max-growth-mib", type=float, default=32.0, help="allowed RSS growth during the second round")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="embedpick-load-") as tmp:
        index = args.index or build_demo_index(Path(tmp) / "index", args.dense)
        report = load_test(index, args.clients, args.seconds, args.max_growth_mib)
    _print(report)
    if args.json:
        from embedpick.atomic import write_json_atomic

        write_json_atomic(args.json, report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
