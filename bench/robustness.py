"""What a busy host or a hostile user costs netcheck (issue #22), measured (see bench/run):

  --networks [N]          N user networks (default 100) with a container each: a run under
                          `prlimit --nofile=1024` (no errors), its time against an idle host's,
                          and the JSON report's size
  --analyze-networks [N]  `analyze` of a snapshot of N networks (default 1000): peak RSS and
                          the report's size
  --hostile               `analyze /dev/zero` and of a FIFO: refused, how fast, peak RSS
  --serve-idle [N]        serve with N idle connections held (default 1000): /healthz's
                          answer time

Everything started carries the netcheck.bench label and a netcheck-bench name, and is
removed at the end, also on Ctrl-C.
"""

import concurrent.futures
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

LABEL = "netcheck.bench=1"
# Rounds of the --networks runs: the machine's noise on a one-second run is a tenth of it.
ROUNDS = 5
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout.strip()


def wall(argv):
    """Wall time, exit code and peak RSS (MB) of one run of `argv`, output discarded."""
    t = time.monotonic()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execvp(argv[0], argv)
    _, status, rusage = os.wait4(pid, 0)
    return time.monotonic() - t, os.waitstatus_to_exitcode(status), rusage.ru_maxrss / 1024


def remove_all(nets):
    ids = sh("docker", "ps", "-aq", "--filter", f"label={LABEL}").split()
    # A few at a time: Docker 20.10 can hang for good (Daemon.Kill waiting on an exit
    # event it lost) when a thousand removals are asked at once.
    for i in range(0, len(ids), 20):
        sh("docker", "rm", "-f", *ids[i:i + 20])
    for n in nets:
        for _ in range(240):
            if subprocess.run(["docker", "network", "rm", n], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)


def networks(bin_, n, baseline=None):
    image = sh(bin_, "probe-image")
    if baseline:
        sh(baseline, "probe-image")
    nets = [f"netcheck-bench-{i}" for i in range(n)]
    mtu = "com.docker.network.driver.mtu=1400"
    bins = [bin_] + ([baseline] if baseline else [])

    def make(i):
        net = nets[i]
        sh("docker", "network", "create", "--label", LABEL, "-o", mtu, "--subnet", f"10.233.{i}.0/24", net)
        sh("docker", "run", "-d", "--label", LABEL, "--name", f"{net}-app", "--network", net,
           "--read-only", "--cap-drop", "ALL", image, "probe", "--linger-secs", "3600")

    results = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            idle = {b: [] for b in bins}
            for _ in range(ROUNDS):
                for b in bins:
                    idle[b].append(wall([b, "--json", f"{tmp}/idle.json"])[0])
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(make, range(n)))
            # Interleaved: the machine's drift hits both alike.
            runs = {b: [] for b in bins}
            for _ in range(ROUNDS):
                for k, b in enumerate(bins):
                    args = ["prlimit", "--nofile=1024", b, "--json", f"{tmp}/r{k}.json"]
                    for net in nets:
                        args += ["--network", net]
                    runs[b].append(wall(args))
            for k, b in enumerate(bins):
                report = json.load(open(f"{tmp}/r{k}.json"))
                results[b] = (
                    os.path.getsize(f"{tmp}/r{k}.json"),
                    [c["id"] for c in report["checks"] if c["status"] == "error"],
                    sum(len(c["evidence"]) for c in report["checks"] if c["check"] == "bridge.icc"),
                )
    finally:
        remove_all(nets)
    print(f"{n} user networks with a container each, under prlimit --nofile=1024 (medians of {ROUNDS}):")
    for b in bins:
        t = statistics.median(r[0] for r in runs[b])
        i = statistics.median(idle[b])
        size, errors, icc_lines = results[b]
        print(f" {'baseline ' if b == baseline else ''}{b}:")
        print(f"  run {t:6.2f} s   idle host {i:6.2f} s   {t / i:4.2f}x idle   exit {runs[b][-1][1]}"
              f"   peak RSS {max(r[2] for r in runs[b]):.0f} MB")
        print(f"  JSON report {size / 1e6:6.2f} MB   errored results {len(errors)} {errors[:5]}"
              f"   bridge.icc evidence lines {icc_lines}")


def analyze_networks(bin_, n):
    snap = json.load(open(os.path.join(FIXTURES, "healthy-user-network-and-bridge.json")))
    nets = snap["docker"]["value"]["networks"]
    template = next(x for x in nets if x["name"] != "bridge" and x["endpoints"])
    requests = snap["probe"]["value"]["host_requests"]
    isolation = next(r for r in requests if r["purpose"].startswith("isolation:"))
    names = []
    for i in range(n):
        x = json.loads(json.dumps(template))
        x["name"] = f"netcheck-bench-{i}"
        x["id"] = f"{i:064x}"
        x["ipam"][0]["subnet"] = f"10.{100 + i // 256}.{i % 256}.0/24"
        nets.append(x)
        names.append(x["name"])
    snap["networks"] += names
    # Every pair tested, as netcheck did before it sampled: the worst a snapshot holds.
    pairs = 0
    for a in names:
        for b in names[:40]:
            if a != b:
                r = dict(isolation, purpose=f"isolation:{a}:{b}:app-a:app-b")
                requests.append(r)
                pairs += 1
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/huge.json"
        json.dump(snap, open(path, "w"))
        t, code, rss = wall([bin_, "analyze", path, "--json", f"{tmp}/r.json"])
        size = os.path.getsize(f"{tmp}/r.json")
        print(f"analyze of {n} networks ({os.path.getsize(path) / 1e6:.1f} MB snapshot, {pairs} isolation requests):")
        print(f"  {t:6.2f} s   exit {code}   peak RSS {rss:6.1f} MB   JSON report {size / 1e6:6.2f} MB")


def hostile(bin_):
    with tempfile.TemporaryDirectory() as tmp:
        fifo = f"{tmp}/fifo"
        os.mkfifo(fifo)
        link = f"{tmp}/zero.json"
        os.symlink("/dev/zero", link)
        for path in ["/dev/zero", link, fifo]:
            t, code, rss = wall(["timeout", "20", bin_, "analyze", path])
            print(f"analyze {path:<32} exit {code}  {t * 1000:7.1f} ms  peak RSS {rss:5.1f} MB")


def serve_idle(bin_, n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["prlimit", "--nofile=1024:1024", bin_, "serve", "--listen", f"127.0.0.1:{port}",
                             "--interval", "60"], stderr=subprocess.DEVNULL)

    def get(path):
        t = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as c:
                c.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
                head = c.recv(64).decode(errors="replace").split(" ")
                return head[1] if len(head) > 1 else "none", time.monotonic() - t
        except OSError as e:
            return type(e).__name__, time.monotonic() - t

    try:
        for _ in range(300):
            if get("/healthz")[0] in ("200", "503"):
                break
            time.sleep(0.1)
        held = []
        for _ in range(n):
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        samples = [get(p) for p in ["/healthz", "/metrics"] * 5]
        print(f"serve under prlimit --nofile=1024 with {len(held)} idle connections held:")
        for p, (code, t) in zip(["/healthz", "/metrics"] * 5, samples):
            print(f"  {p:<9} {code:>4}  {t * 1000:7.1f} ms")
        print(f"  slowest answer {max(t for _, t in samples) * 1000:.1f} ms")
        for c in held:
            c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main(bin_, args, baseline=None):
    what, rest = args[0], args[1:]
    count = int(rest[0]) if rest else None
    if what == "--networks":
        networks(bin_, count or 100, baseline)
    elif what == "--analyze-networks":
        analyze_networks(bin_, count or 1000)
    elif what == "--hostile":
        hostile(bin_)
    elif what == "--serve-idle":
        serve_idle(bin_, count or 1000)
    else:
        sys.exit(f"unknown benchmark {what}")
