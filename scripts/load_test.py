"""Load test of a running translation server (cs224n-nmt serve), loopback only.

    .venv/bin/python scripts/load_test.py LINES.es [--url http://127.0.0.1:8000] [--clients 8]
        [--requests 500] [--lines-per-request 1] [--pid PID] [--expect TRANSLATIONS.txt]

CLIENTS threads send REQUESTS requests in all, each with the next LINES-PER-REQUEST lines of
LINES.es (cycling). It checks that every request got one translation per line, each for its own
line (with --expect, the translation of line i of LINES.es must be line i of TRANSLATIONS.txt,
e.g. what scripts/translate_file.sh wrote for LINES.es), and prints the latency percentiles, the
throughput and, with --pid (the server's process), its resident memory over the run.
"""
import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cs224n_nmt_plugin.text.files import read_lines


def post(url, payload, timeout=120):
    request = urllib.request.Request(f"{url}/translate", data=json.dumps(payload).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def resident_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


def run_load(url, lines, clients=8, requests=500, lines_per_request=1, pid=None):
    """Returns {"translations": {line index: translation, ...} per request, "latencies_s": [...],
    "seconds": wall time, "rss_mb": [(requests done, MB), ...]}. Raises on any failed request."""
    jobs = [[(start + k) % len(lines) for k in range(lines_per_request)]
            for start in range(0, requests * lines_per_request, lines_per_request)]
    answers, latencies, errors, rss = [None] * len(jobs), [0.0] * len(jobs), [], []
    next_job = iter(range(len(jobs)))
    lock = threading.Lock()

    def client():
        while True:
            with lock:
                job = next(next_job, None)
            if job is None or errors:
                return
            start = time.perf_counter()
            try:
                answer = post(url, {"lines": [lines[i] for i in jobs[job]]})
            except Exception as error:  # reported below, with the request
                errors.append(f"request {job}: {error}")
                return
            latencies[job] = time.perf_counter() - start
            answers[job] = answer

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        if pid is not None:
            rss.append((sum(a is not None for a in answers), resident_mb(pid)))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(errors[0])
    translations = []
    for job, answer in zip(jobs, answers):
        entries = answer["translations"]
        if [entry["source"] for entry in entries] != [lines[i] for i in job]:
            raise RuntimeError(f"a request got the translations of other lines: {job}")
        translations.append({i: entry["translation"] for i, entry in zip(job, entries)})
    return {"translations": translations, "latencies_s": latencies, "seconds": seconds, "rss_mb": rss}


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(result):
    latencies = [1000 * s for s in result["latencies_s"]]
    text = (f"{len(latencies)} requests in {result['seconds']:.1f} s ({len(latencies) / result['seconds']:.1f} "
            f"requests/s); latency ms: p50 {percentile(latencies, 0.5):.1f}, p90 {percentile(latencies, 0.9):.1f}, "
            f"p99 {percentile(latencies, 0.99):.1f}, max {max(latencies):.1f}, mean {statistics.fmean(latencies):.1f}")
    if result["rss_mb"]:
        values = [mb for _, mb in result["rss_mb"]]
        text += f"; server RSS MB: first {values[0]:.0f}, max {max(values):.0f}, last {values[-1]:.0f}"
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lines", type=Path, help="Spanish lines to send")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--lines-per-request", type=int, default=1)
    parser.add_argument("--pid", type=int, help="the server's process id, to follow its memory")
    parser.add_argument("--expect", type=Path, help="the expected translation of each line, one a line")
    args = parser.parse_args()
    lines = read_lines(args.lines)
    result = run_load(args.url, lines, args.clients, args.requests, args.lines_per_request, args.pid)
    if args.expect:
        expected = read_lines(args.expect)
        wrong = [(i, t) for request in result["translations"] for i, t in request.items() if t != expected[i]]
        if wrong:
            sys.exit(f"{len(wrong)} translations differ from {args.expect}, "
                     f"e.g. line {wrong[0][0] + 1}: {wrong[0][1]!r}")
        print(f"every translation equals {args.expect}'s")
    print(summary(result))


if __name__ == "__main__":
    main()
