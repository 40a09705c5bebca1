"""REST latency by authentication scheme: a cheap call (`GET /engine-rest/batch/count`) as clients make it.

Usage: python bench/rest_auth.py --db sqlite|postgres [--requests 200]
Starts gunicorn (2 workers, no q2 cluster) on a fresh bench database with the demo users, then times
sequential requests from one client per scheme over loopback: HTTP Basic with the password (with the
credential cache off, as before, and on), the Cockpit's session cookie, an API token as Bearer, and
the token as the Basic password. Prints the first request and p50/p95 of the rest, in ms.
"""
from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import PASSWORD, Servers, manage, prepare, table  # noqa: E402

PATH = "/engine-rest/batch/count"


def timed(opener, url: str, headers: dict, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        request = urllib.request.Request(url, headers=headers)
        began = time.perf_counter()
        with opener.open(request, timeout=30) as response:
            response.read()
            assert response.status == 200, response.status
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def row(name: str, samples: list[float]) -> list:
    rest = sorted(samples[1:])
    p95 = rest[min(len(rest) - 1, int(len(rest) * 0.95))]
    return [name, f"{samples[0]:.1f}", f"{statistics.median(rest):.1f}", f"{p95:.1f}"]


def basic(user: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    env = prepare(args.db, 1000)
    token = manage(env, "api_token", "create", "--user", "admin", "--name", "bench").strip()
    plain = urllib.request.build_opener()
    rows = []
    with Servers({**env, "BASIC_AUTH_CACHE_SECONDS": "0"}, clusters=0) as servers:
        url = f"http://127.0.0.1:{servers.port}{PATH}"
        rows.append(row("Basic, password hashed on every call", timed(plain, url, basic("admin", PASSWORD), max(20, args.requests // 5))))
    with Servers(env, clusters=0) as servers:
        url = f"http://127.0.0.1:{servers.port}{PATH}"
        rows.append(row("Basic, verified credentials cached", timed(plain, url, basic("admin", PASSWORD), args.requests)))
        rows.append(row("session cookie (Cockpit login)", timed(servers.opener, url, {}, args.requests)))
        rows.append(row("API token as Bearer", timed(plain, url, {"Authorization": f"Bearer {token}"}, args.requests)))
        rows.append(row("API token as the Basic password", timed(plain, url, basic("admin", token), args.requests)))
    print(f"{args.db}: GET {PATH}, {args.requests} sequential requests per scheme, gunicorn 2 workers, loopback")
    print(table(["scheme", "first ms", "p50 ms", "p95 ms"], rows))
    print("target: Basic p50 under 20 ms after the first request")


if __name__ == "__main__":
    main()
