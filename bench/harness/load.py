"""Load generators: wrk for request rates and latencies, curl for big bodies."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# wrk's own summary gives no p99.9; its Lua `done` hook can print any
# percentile from the full latency histogram, in microseconds.
PERCENTILES_LUA = """\
done = function(summary, latency, requests)
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("ZR_PCT %g %d\\n", p, latency:percentile(p)))
  end
  io.write(string.format("ZR_REQS %d\\n", summary.requests))
  io.write(string.format("ZR_ERRS %d\\n", summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.status + summary.errors.timeout))
  io.write(string.format("ZR_US %d\\n", summary.duration))
end
"""


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    requests: int
    errors: int

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def wrk(url: str, script: Path, connections: int, duration_s: float, threads: int = 1) -> WrkResult:
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=duration_s + 60).stdout
    pct: dict[float, float] = {}
    reqs = errs = 0
    micros = 1
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "ZR_PCT":
            pct[float(parts[1])] = int(parts[2]) / 1000.0
        elif parts[0] == "ZR_REQS":
            reqs = int(parts[1])
        elif parts[0] == "ZR_ERRS":
            errs = int(parts[1])
        elif parts[0] == "ZR_US":
            micros = max(1, int(parts[1]))
    if not pct:
        raise RuntimeError(f"wrk printed no percentiles:\n{out}")
    return WrkResult(reqs / (micros / 1e6), pct[50], pct[90], pct[99], pct[99.9], reqs, errs)


def fixed_rate(binary: str, url: str, rate: float, seconds: float, connections: int) -> dict:
    """Open-loop load (bench/src/bin/rate-load.rs): latency from each request's due time."""
    out = subprocess.run(
        [binary, url, str(rate), str(seconds), str(connections)],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    return json.loads(out)


@dataclass
class TransferResult:
    direction: str
    bytes: int
    seconds: float
    ok: bool

    @property
    def mib_per_s(self) -> float:
        return self.bytes / (1 << 20) / self.seconds if self.seconds > 0 else 0.0


def download(url: str, size: int) -> TransferResult:
    start = time.monotonic()
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout.split()
    seconds = time.monotonic() - start
    return TransferResult("download", int(out[1]), seconds, out[0] == "200" and int(out[1]) == size)


def upload(url: str, size: int) -> TransferResult:
    """Streams `size` zero bytes (chunked, so nothing is buffered in curl) to /drain-body."""
    start = time.monotonic()
    head = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-T",
            "-",
            "-X",
            "POST",
            "-H",
            "content-type: application/octet-stream",
            url,
        ],
        stdin=head.stdout,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    head.wait()
    seconds = time.monotonic() - start
    return TransferResult("upload", size, seconds, out.strip() == str(size))
