#!/usr/bin/env python3
"""Mixed-workload load generator for bench/nodes.sh (asyncio + aiohttp).

    nodes_load.py PLAN.json --target URL [--target URL ...] [-c 16] [-d 30] [-w 5]
                  [--seed 1] [--out RESULT.json]

PLAN.json names the request kinds, each with a weight and the paths it draws from:

    {"kinds": [{"name": "search", "weight": 40, "paths": ["/api/v1/datasets?q=..."]}, ...]}

C workers (the concurrency) each loop: draw a kind by weight, a path of that kind at
random (seeded, so runs draw the same sequence), and the next target in round-robin order
(one counter shared by all workers: the stand-in for a load balancer), then send a GET on
a kept-alive connection and read the whole body. The first W seconds are a warm-up and
are not counted; then D seconds are measured. A request counts when it started inside the
measured window; the window ends when the last of those has been answered.

An error is any answer outside 2xx, and any connection error or timeout (30 s per
request). The first errors are kept with their URL, status and the start of the body.

Prints one JSON document (and writes it to --out): per kind and overall, requests,
requests a second, errors, p50/p95/p99/max latency in ms and bytes; requests and errors
per target; error samples; the generator's own CPU seconds.
"""

import argparse
import asyncio
import json
import random
import resource
import sys
import time

import aiohttp


def pct(sorted_ms, p):
    if not sorted_ms:
        return None
    k = max(0, min(len(sorted_ms) - 1, int(round(p / 100 * len(sorted_ms) + 0.5)) - 1))
    return round(sorted_ms[k], 2)


def summary(lat, n_err, nbytes, secs):
    lat.sort()
    n = len(lat)
    return {
        "requests": n,
        "rps": round(n / secs, 1) if secs > 0 else 0,
        "errors": n_err,
        "error_rate": round(n_err / n, 6) if n else 0,
        "p50_ms": pct(lat, 50),
        "p95_ms": pct(lat, 95),
        "p99_ms": pct(lat, 99),
        "max_ms": round(lat[-1], 2) if lat else None,
        "mb": round(nbytes / 1e6, 1),
    }


async def run(args, plan):
    kinds = plan["kinds"]
    names = [k["name"] for k in kinds]
    weights = [k["weight"] for k in kinds]
    paths = {k["name"]: k["paths"] for k in kinds}
    for k in kinds:
        if not k["paths"]:
            sys.exit(f"nodes_load.py: kind {k['name']} has no paths")
    targets = [t.rstrip("/") for t in args.target]

    lat = {n: [] for n in names}
    errs = {n: 0 for n in names}
    nbytes = {n: 0 for n in names}
    per_target = {t: {"requests": 0, "errors": 0} for t in targets}
    statuses = {}
    samples = []
    rr = [0]

    # time.perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
    clock = time.perf_counter
    t_start = clock()
    t_measure = t_start + args.warmup
    t_end = t_measure + args.duration
    last_done = [t_end]

    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker(i):
            rng = random.Random(args.seed * 100_003 + i)
            while True:
                t0 = clock()
                if t0 >= t_end:
                    return
                kind = rng.choices(names, weights)[0]
                path = rng.choice(paths[kind])
                target = targets[rr[0] % len(targets)]
                rr[0] += 1
                status, size, body, exc = None, 0, b"", None
                try:
                    async with session.get(target + path) as r:
                        status = r.status
                        if 200 <= status < 300:
                            async for chunk in r.content.iter_chunked(1 << 16):
                                size += len(chunk)
                        else:
                            body = await r.read()
                            size = len(body)
                except Exception as e:  # connection errors, timeouts, broken bodies
                    exc = f"{type(e).__name__}: {e}"
                t1 = clock()
                if t0 < t_measure:
                    continue
                ok = exc is None and 200 <= status < 300
                lat[kind].append((t1 - t0) * 1000)
                nbytes[kind] += size
                key = str(status) if exc is None else "connection error"
                statuses[key] = statuses.get(key, 0) + 1
                per_target[target]["requests"] += 1
                last_done[0] = max(last_done[0], t1)
                if not ok:
                    errs[kind] += 1
                    per_target[target]["errors"] += 1
                    if len(samples) < 20:
                        samples.append({
                            "kind": kind, "url": target + path, "status": status,
                            "error": exc, "at_s": round(t0 - t_measure, 3),
                            "ms": round((t1 - t0) * 1000, 1),
                            "body": body[:400].decode("utf-8", "replace"),
                        })

        await asyncio.gather(*(worker(i) for i in range(args.concurrency)))

    secs = last_done[0] - t_measure
    all_lat = [x for n in names for x in lat[n]]
    out = {
        "targets": targets,
        "concurrency": args.concurrency,
        "warmup_s": args.warmup,
        "duration_s": round(secs, 3),
        "all": summary(all_lat, sum(errs.values()), sum(nbytes.values()), secs),
        "kinds": {n: summary(lat[n], errs[n], nbytes[n], secs) for n in names},
        "per_target": per_target,
        "statuses": statuses,
        "error_samples": samples,
    }
    out["event_loop"] = type(asyncio.get_event_loop_policy()).__module__.split(".")[0]
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out["loadgen_cpu_s"] = round(ru.ru_utime + ru.ru_stime, 2)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plan")
    ap.add_argument("--target", action="append", required=True)
    ap.add_argument("-c", "--concurrency", type=int, default=16)
    ap.add_argument("-d", "--duration", type=float, default=30)
    ap.add_argument("-w", "--warmup", type=float, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()
    with open(args.plan, encoding="utf-8") as f:
        plan = json.load(f)
    try:
        import uvloop  # optional: a faster event loop leaves more CPU to the servers
        uvloop.install()
    except ImportError:
        pass
    out = asyncio.run(run(args, plan))
    text = json.dumps(out, ensure_ascii=False, indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
