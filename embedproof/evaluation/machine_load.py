"""Was the machine quiet while latency was measured? Load average, CPU time of other processes, steal time.

On a busy machine a model's worker threads spin against other processes and a few-ms query reads hundreds of
ms; such numbers describe the neighbours, not the set-up. `LoadWatch` brackets a measurement and reports what
the rest of the machine used meanwhile (from /proc/stat, minus this process's own CPU time), so a busy run is
flagged instead of reported as fact.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

__all__ = ["LoadWatch", "BUSY_OTHER_SHARE", "BUSY_STEAL_SHARE"]

# Other processes using more than a tenth of the cores (a quiet machine stays near 1%), or the hypervisor stealing a
# tenth, makes a run "busy": a process that spins on every core leaves others little room, so a tenth is already much.
BUSY_OTHER_SHARE = 0.10
BUSY_STEAL_SHARE = 0.10


def _proc_stat() -> tuple[float, float] | None:
    """(busy seconds, steal seconds) of all CPUs since boot, or None where /proc/stat is missing."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = ticks[:7]
    steal = ticks[7] if len(ticks) > 7 else 0
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / hz, steal / hz


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


@dataclass
class LoadWatch:
    """Context manager: `with LoadWatch() as watch: ...` then `watch.result()` (a JSON-ready dict)."""

    cpus: int = field(
        default_factory=lambda: (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        )
    )
    _start: tuple = ()
    _end: tuple = ()

    def _sample(self) -> tuple:
        return time.perf_counter(), _process_cpu(), _proc_stat(), _loadavg()

    def __enter__(self) -> LoadWatch:
        self._start = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        self._end = self._sample()

    def result(self) -> dict:
        (wall0, cpu0, stat0, load0), (wall1, cpu1, stat1, load1) = self._start, self._end
        wall, own = max(wall1 - wall0, 1e-9), cpu1 - cpu0
        out = {
            "wall_s": round(wall, 3),
            "process_cpu_s": round(own, 3),
            "process_cpu_per_wall": round(own / wall, 3),
            "loadavg_1m": [load0, load1],
            "cpus": self.cpus,
        }
        if stat0 is None or stat1 is None:
            return {
                **out,
                "other_cpu_share": None,
                "steal_share": None,
                "busy": None,
                "reason": "no /proc/stat: the load of other processes is unknown",
            }
        # The machine's busy time includes ours; the rest is what other processes took from the same cores.
        other = max(0.0, (stat1[0] - stat0[0]) - own)
        other_share = other / (wall * self.cpus)
        steal_share = (stat1[1] - stat0[1]) / (wall * self.cpus)
        reasons = []
        if other_share > BUSY_OTHER_SHARE:
            reasons.append(f"other processes used {other_share:.0%} of the {self.cpus} CPUs while latency was measured")
        if steal_share > BUSY_STEAL_SHARE:
            reasons.append(f"the hypervisor took {steal_share:.0%} of CPU time (steal)")
        return {
            **out,
            "other_cpu_share": round(other_share, 3),
            "steal_share": round(steal_share, 3),
            "busy": bool(reasons),
            "reason": "; ".join(reasons) or None,
        }
