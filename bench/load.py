#!/usr/bin/env python3
"""Load benchmark: the demo server (the full stack) against a bare hyper server that answers
every request with the bytes of the demo's cache hit, side by side on this machine.

    python3 bench/load.py                     # 3 alternating rounds of 10 s per scenario
    LOAD_ROUNDS=5 LOAD_SECONDS=20 python3 bench/load.py

It builds the release examples (`server` with every feature, `bare`), installs the load
generator `oha` with cargo when it is missing, starts both servers on loopback (the demo
with its policy and quotas, the per-address quota raised by bench/load_limits.toml so the
one load generator is not one throttled client, HS256 JWTs on, logs to /dev/null), and
prints, per scenario, each server's requests per second and their ratio (median of the
rounds, bare and demo alternating so the VM's drift hits both):

- rest_hit: GET /context/public-docs/getting-started with an API key (a cache hit);
- mcp_read: an MCP resources/read (2026-07-28) with an HS256 JWT;
- rest_list: GET /context (a listing, filtered by the policy);

then the latency of rest_hit at half the bare server's saturation and at half the demo's own
(p50 and p99 of both at the same fixed rate, and what the stack adds). The bare server answers the same bytes whatever it is asked,
so each ratio is what the stack costs for that request.
"""

import base64
import hashlib
import hmac
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(os.environ.get("LOAD_ROUNDS", "3"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("LOAD_CONNECTIONS", "32"))
DEMO = os.environ.get("LOAD_DEMO_ADDR", "127.0.0.1:3400")
BARE = os.environ.get("LOAD_BARE_ADDR", "127.0.0.1:3401")
SECRET = "load-benchmark-secret-of-at-least-32-bytes"


def run(*args, **kwargs):
    return subprocess.run(args, check=True, cwd=ROOT, **kwargs)


def oha_binary():
    found = shutil.which("oha")
    if found:
        return found
    print("installing oha (cargo install oha --locked)", flush=True)
    run("cargo", "install", "oha", "--locked", "--quiet")
    return shutil.which("oha") or os.path.expanduser("~/.cargo/bin/oha")


def wait_for(addr, process):
    host, port = addr.rsplit(":", 1)
    for _ in range(200):
        if process.poll() is not None:
            sys.exit(f"the server for {addr} exited ({process.returncode})")
        try:
            socket.create_connection((host, int(port)), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {addr}")


def jwt():
    """An HS256 JWT the demo accepts: its issuer and audience, role admin, one hour."""

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {
        "iss": "mcp-bastion-dev",
        "aud": f"http://{DEMO}/mcp",
        "sub": "load-generator",
        "roles": ["admin"],
        "exp": int(time.time()) + 3600,
    }
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(SECRET.encode(), header + b"." + payload, hashlib.sha256).digest()
    return (header + b"." + payload + b"." + b64(signature)).decode()


def scenarios():
    read = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "resources/read",
        "params": {
            "uri": "ctx://public-docs/getting-started",
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    return [
        ("rest_hit", "GET", "/context/public-docs/getting-started",
         ["Authorization: Bearer user-admin-token"], None),
        ("mcp_read", "POST", "/mcp", [
            f"Authorization: Bearer {jwt()}",
            "Content-Type: application/json",
            "Accept: application/json, text/event-stream",
            "MCP-Protocol-Version: 2026-07-28",
            "Mcp-Method: resources/read",
            "Mcp-Name: ctx://public-docs/getting-started",
        ], json.dumps(read)),
        ("rest_list", "GET", "/context", ["Authorization: Bearer user-admin-token"], None),
    ]


def load(oha, addr, method, path, headers, body, rate=None):
    """One oha run; its summary as a dict (requests per second, latency percentiles)."""
    args = [oha, "--no-tui", "--output-format", "json", "-z", f"{SECONDS}s",
            "-c", str(CONNECTIONS), "-m", method]
    for header in headers:
        args += ["-H", header]
    if body is not None:
        args += ["-d", body]
    if rate is not None:
        args += ["-q", str(rate)]
    args.append(f"http://{addr}{path}")
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    codes = report.get("statusCodeDistribution", {})
    if set(codes) - {"200"}:
        sys.exit(f"{addr}{path}: statuses other than 200: {codes}")
    return report


def rps(report):
    return report["summary"]["requestsPerSec"]


def percentile(report, name):
    return report["latencyPercentiles"][name] * 1e6  # µs


def latency(oha, rate, why):
    """rest_hit at a fixed rate on both servers: p50 and p99, and what the stack adds."""
    name, method, path, headers, body = scenarios()[0]
    print(f"\nlatency of {name} at {rate} req/s ({why}):")
    print(f"{'':<6} {'bare µs':>10} {'demo µs':>10} {'added µs':>10}")
    bare_at, demo_at, added = ({"p50": [], "p99": []} for _ in range(3))
    for _ in range(ROUNDS):
        b = load(oha, BARE, method, path, headers, body, rate=rate)
        d = load(oha, DEMO, method, path, headers, body, rate=rate)
        for p in ("p50", "p99"):
            bare_at[p].append(percentile(b, p))
            demo_at[p].append(percentile(d, p))
            added[p].append(percentile(d, p) - percentile(b, p))
    for p in ("p50", "p99"):
        print(f"{p:<6} {statistics.median(bare_at[p]):>10.1f} "
              f"{statistics.median(demo_at[p]):>10.1f} {statistics.median(added[p]):>10.1f}")


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


def main():
    oha = oha_binary()
    run("cargo", "build", "--release", "--quiet", "--all-features",
        "--example", "server", "--example", "bare")
    # The demo as it runs by default: JSON access log (to /dev/null here), metrics recorder.
    env = dict(os.environ, MCP_JWT_SECRET=SECRET)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    release = os.path.join(target, "release", "examples")
    demo = subprocess.Popen(
        [os.path.join(release, "server"), "--addr", DEMO,
         "--rate-limits", os.path.join(ROOT, "bench", "load_limits.toml")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bare = subprocess.Popen([os.path.join(release, "bare"), BARE],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(DEMO, demo)
        wait_for(BARE, bare)
        print(f"machine: {machine()}")
        print(f"oha: {subprocess.run([oha, '--version'], capture_output=True, text=True).stdout.strip()}, "
              f"{CONNECTIONS} connections, {SECONDS} s a run, {ROUNDS} rounds")
        print(f"{'scenario':<10} {'bare req/s':>12} {'demo req/s':>12} {'demo/bare':>10}")
        saturation = {}
        for name, method, path, headers, body in scenarios():
            ratios, bare_rps, demo_rps = [], [], []
            for _ in range(ROUNDS):
                b = rps(load(oha, BARE, method, path, headers, body))
                d = rps(load(oha, DEMO, method, path, headers, body))
                bare_rps.append(b)
                demo_rps.append(d)
                ratios.append(d / b)
            if name == "rest_hit":
                saturation = {"bare": statistics.median(bare_rps),
                              "demo": statistics.median(demo_rps)}
            print(f"{name:<10} {statistics.median(bare_rps):>12.0f} "
                  f"{statistics.median(demo_rps):>12.0f} {statistics.median(ratios):>10.3f}")
        for whose in ("bare", "demo"):
            latency(oha, int(saturation[whose] / 2), f"half the {whose} server's saturation")
    finally:
        for process in (demo, bare):
            process.terminate()
            process.wait()


if __name__ == "__main__":
    main()
