"""The benchmark driver (see bench/run).

Speed: every round runs each command once, in a rotating order, each timed by hyperfine,
so that the machine's drift over the run hits all commands alike (interleaved, not one
command's runs after another's). Reports medians and their ratio to the floor: the
ratio is what carries from one machine to another, not the milliseconds.

Memory: peak RSS of each netcheck run, from wait4's rusage of that very process.

Scale: starts labelled sleeper containers (the probe image, lingering) on the default
bridge and on a user network, and times the checks that cover every container.
Everything it starts is removed at the end, also on Ctrl-C.
"""

import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import shutil
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
ARGS = sys.argv[2:]
# `--baseline BIN`: an older netcheck, timed in the same interleaved rounds, so that
# "before and after a change" is a ratio measured in one run.
BASELINE = None
if "--baseline" in ARGS:
    i = ARGS.index("--baseline")
    BASELINE = os.path.abspath(ARGS[i + 1])
    del ARGS[i : i + 2]
LABEL = "netcheck.bench=1"
NET = "netcheck-bench"


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout.strip()


def timed(command, prepare=None):
    """One run of `command` under hyperfine: its wall time in seconds."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = ["hyperfine", "--runs", "1", "--style", "none", "--export-json", out.name]
        if prepare:
            cmd += ["--prepare", prepare]
        subprocess.run(cmd + [command], check=True, stdout=subprocess.DEVNULL)
        return json.load(open(out.name))["results"][0]["times"][0]


def peak_rss_mb(argv):
    devnull = os.open(os.devnull, os.O_WRONLY)
    pid = os.fork()
    if pid == 0:
        os.dup2(devnull, 1)
        os.execv(argv[0], argv)
    _, status, rusage = os.wait4(pid, 0)
    return rusage.ru_maxrss / 1024


def speed(runs):
    image = sh(BIN, "probe-image")
    tmp = tempfile.mkdtemp()
    commands = {
        "floor": (f"docker run --rm {image} probe --linger-secs 0", None),
        # What port.publish asks of the engine by definition: the same two bindings.
        "floor_ports": (
            f"docker run --rm -p 127.0.0.1::8080 -p 172.17.0.1::8080 {image} probe --linger-secs 0",
            None,
        ),
        "warm": (BIN, None),
        "seed": (f"{BIN} --skip port.publish", None),
        "reports": (f"{BIN} --json {tmp}/r.json --junit {tmp}/r.xml", None),
        "cold": (BIN, f"docker rmi -f {image}"),
    }
    if BASELINE:
        sh(BASELINE, "probe-image")  # its own image, built once, outside the timing
        commands["baseline"] = (BASELINE, None)
    names = list(commands)
    times = {n: [] for n in names}
    for r in range(runs + 2):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            t = timed(*commands[n])
            if r >= 2:  # two warm-up rounds
                times[n].append(t)
    sh(BIN, "probe-image")  # leave the image in place
    med = {n: statistics.median(times[n]) for n in names}
    floor = med["floor"]
    print(f"medians of {runs} interleaved rounds, on this host, in one run:")
    labels = {
        "floor": "docker run --rm of the probe image",
        "floor_ports": "  the same, with port.publish's 2 ports",
        "warm": "netcheck, default suite (warm)",
        "seed": "netcheck --skip port.publish",
        "reports": "netcheck with --json and --junit",
        "cold": "netcheck, probe image missing (cold)",
        "baseline": "the baseline netcheck, default suite (warm)",
    }
    for n in names:
        print(f"  {labels[n]:<40} {med[n]*1000:7.0f} ms   {med[n]/floor:4.2f}x floor")
    print(f"  building the probe image adds            {1000*(med['cold']-med['warm']):7.0f} ms")
    print(
        f"  warm default suite vs. the floor with ports {med['warm']/med['floor_ports']:4.2f}x"
        "  (netcheck's own overhead, the engine's port publishing set aside)"
    )
    if BASELINE:
        print(f"  this netcheck vs. the baseline (warm)    {med['warm']/med['baseline']:4.2f}x")
    rss = [peak_rss_mb([BIN]) for _ in range(5)]
    rss_reports = [peak_rss_mb([BIN, "--json", f"{tmp}/r.json", "--junit", f"{tmp}/r.xml"]) for _ in range(5)]
    print(f"  peak RSS, default suite (max of 5)       {max(rss):7.1f} MB")
    print(f"  peak RSS, with reports (max of 5)        {max(rss_reports):7.1f} MB")


def remote(runs):
    """A remote run with the host agent against the floor on the same engine: the engine
    is the environment's (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_CONTEXT,
    or -H/--context after --remote, passed to netcheck and docker alike)."""
    flags = " ".join(ARGS[1:])
    image = sh(BIN, *ARGS[1:], "probe-image")
    commands = {
        "floor": f"docker {flags} run --rm {image} probe --linger-secs 0",
        "agent": f"{BIN} {flags} --agent",
        "no_agent": f"{BIN} {flags}",
    }
    if BASELINE:
        commands["agent_baseline"] = f"{BASELINE} {flags} --agent"
    names = list(commands)
    times = {n: [] for n in names}
    for r in range(runs + 2):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            t = timed(commands[n])
            if r >= 2:
                times[n].append(t)
    med = {n: statistics.median(times[n]) for n in names}
    floor = med["floor"]
    print(f"medians of {runs} interleaved rounds, on the engine given ({flags or 'the environment'}):")
    labels = {
        "floor": "docker run --rm of the probe image there",
        "agent": "netcheck --agent (every check)",
        "no_agent": "netcheck without the agent",
        "agent_baseline": "the baseline's netcheck --agent",
    }
    for n in names:
        print(f"  {labels[n]:<40} {med[n]*1000:7.0f} ms   {med[n]/floor:4.2f}x floor")
    if BASELINE:
        print(f"  netcheck --agent against the baseline's: {med['agent']/med['agent_baseline']:4.2f}x")


def uplink_mtu():
    route = sh("ip", "-4", "route", "show", "default").split()
    dev = route[route.index("dev") + 1]
    with open(f"/sys/class/net/{dev}/mtu") as f:
        return f.read().strip()


def scale(most):
    image = sh(BIN, "probe-image")
    # The network's MTU fits the uplink, as a careful user's would (link.mtu checks it).
    sh("docker", "network", "create", "--label", LABEL, "-o", f"com.docker.network.driver.mtu={uplink_mtu()}",
       NET, check=False)
    started = 0
    # Every check that reads each container. bridge.icc is left out: it connects from one
    # container per network, whatever their number, so its cost does not scale.
    checks = ["--exact", "bridge.subnet", "bridge.veth", "container.default-route", "link.mtu", "dns.resolver"]
    run = f"{BIN} {' '.join(checks)} --network bridge --network {NET}"
    # `--baseline BIN`: the older netcheck in the same rounds, on the same containers.
    old = f"{BASELINE} {' '.join(checks)} --network bridge --network {NET}" if BASELINE else None
    if BASELINE:
        sh(BASELINE, "probe-image")
    results, old_results = [], []

    def start(i):
        net = "bridge" if i % 2 == 0 else NET
        sh("docker", "run", "-d", "--label", LABEL, "--network", net, "--read-only", "--cap-drop", "ALL",
           image, "probe", "--linger-secs", "3600")

    try:
        for target in sorted({0, 50, 100, 200, most}):
            # A few at a time: a thousand one by one take a quarter of an hour.
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(start, range(started, target)))
            started = max(started, target)
            # The floor at this size too: the engine itself slows as containers pile up,
            # and that is not netcheck's cost.
            floor = f"docker run --rm {image} probe --linger-secs 0"
            rounds = [(timed(run), timed(floor), timed(old) if old else 0) for _ in range(5)]
            t = statistics.median(r[0] for r in rounds)
            f = statistics.median(r[1] for r in rounds)
            results.append((target, t, f))
            line = f"  {target:4d} containers: netcheck {t*1000:6.0f} ms, floor {f*1000:6.0f} ms"
            if old:
                b = statistics.median(r[2] for r in rounds)
                old_results.append((target, b, f))
                line += f", baseline {b*1000:6.0f} ms"
            print(line, flush=True)
    finally:
        ids = sh("docker", "ps", "-aq", "--filter", f"label={LABEL}").split()
        # A few at a time: Docker 20.10 can hang for good (Daemon.Kill waiting on an exit
        # event it lost) when a thousand removals are asked at once.
        for i in range(0, len(ids), 20):
            sh("docker", "rm", "-f", *ids[i:i + 20])
        # The engine releases a thousand endpoints lazily: retry for up to two minutes.
        for _ in range(240):
            if subprocess.run(["docker", "network", "rm", NET], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        else:
            print(f"could not remove the network {NET}: remove it with docker network rm {NET}", file=sys.stderr)
    print("the all-container checks (bridge.subnet, bridge.veth, container.default-route, link.mtu,")
    print("dns.resolver), medians of 5,")
    print("against idle; 'over the floor' subtracts what one docker run itself gained at that size:")
    for name, rows in [("netcheck", results), ("baseline", old_results)]:
        if not rows:
            continue
        if old_results:
            print(f" {name}:")
        base, base_floor = rows[0][1], rows[0][2]
        for n, t, f in rows:
            own = (t - base) - (f - base_floor)
            per = f"{own*1000/n:5.2f} ms per container" if n else ""
            print(f"  {n:4d} containers  {t*1000:6.0f} ms  +{(t-base)*1000:5.0f} ms over idle  "
                  f"(+{own*1000:5.0f} ms over the floor's own growth) {per}")


def serve(runs):
    """Resident memory of `netcheck serve` after its first run and after `runs` runs.

    A run every second (serve's shortest interval) of the default suite, probe included: what serve does for a day,
    in minutes. Memory that grows from run to run is a leak."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--interval", "1s"],
                            stderr=subprocess.DEVNULL)

    def runs_done():
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        except OSError:
            return 0
        return sum(int(float(l.split()[-1])) for l in text.splitlines() if l.startswith("netcheck_runs_total{"))

    def rss_mb():
        for line in open(f"/proc/{proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    samples = []
    try:
        marks = sorted({1, 10, 25, 50, 75, runs})
        started = time.monotonic()
        for mark in marks:
            while runs_done() < mark:
                if proc.poll() is not None:
                    sys.exit(f"serve exited with {proc.returncode}")
                time.sleep(0.02)
            samples.append((runs_done(), rss_mb()))
            print(f"  after {samples[-1][0]:4d} runs: RSS {samples[-1][1]:6.1f} MB", flush=True)
        elapsed = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    first, last = samples[0][1], samples[-1][1]
    print(f"serve, {samples[-1][0]} runs in {elapsed:.0f} s: RSS {first:.1f} MB after the first run, "
          f"{last:.1f} MB after the last ({last - first:+.1f} MB); exit {proc.returncode} on SIGTERM")
    # Allocator noise is a few hundred kB; a leak of even 10 kB a run shows over 100 runs.
    if last - first > 2.0:
        sys.exit(f"serve's memory grew by {last - first:.1f} MB over {samples[-1][0]} runs: a leak")


def complete(runs):
    """Docker's TAB: `docker __complete netcheck WORDS` through the real docker CLI, with
    netcheck as its plugin (a config directory of the bench's own). A TAB must answer
    within 200 ms; `--network` is the one completion that asks the engine."""
    config = tempfile.mkdtemp(prefix="netcheck-bench-")
    os.makedirs(f"{config}/cli-plugins")
    os.symlink(BIN, f"{config}/cli-plugins/docker-netcheck")
    env = dict(os.environ, DOCKER_CONFIG=config)
    worst = 0.0
    try:
        for words in (["netcheck", ""], ["netcheck", "--network", ""], ["netcheck", "--col"]):
            times = []
            for _ in range(runs):
                t0 = time.monotonic()
                out = subprocess.run(["docker", "__complete", *words], env=env,
                                     capture_output=True, text=True, check=True).stdout
                times.append(time.monotonic() - t0)
            assert out.rstrip().splitlines()[-1].startswith(":"), out
            times.sort()
            median, slowest = times[len(times) // 2], times[-1]
            worst = max(worst, slowest)
            print(f"  docker __complete {' '.join(repr(w) for w in words):32s} "
                  f"median {median * 1000:5.1f} ms  slowest {slowest * 1000:5.1f} ms  "
                  f"({len(out.splitlines()) - 1} candidates)")
    finally:
        shutil.rmtree(config)
    print(f"completion: slowest of {runs} TABs each {worst * 1000:.0f} ms (limit 200 ms)")
    if worst > 0.2:
        sys.exit("a TAB took longer than 200 ms")


if ARGS and ARGS[0] == "--complete":
    complete(int(ARGS[1]) if len(ARGS) > 1 else 20)
elif ARGS and ARGS[0] == "--scale":
    scale(int(ARGS[1]) if len(ARGS) > 1 else 200)
elif ARGS and ARGS[0] in ("--networks", "--analyze-networks", "--hostile", "--serve-idle"):
    sys.path.insert(0, os.path.dirname(__file__))
    import robustness

    robustness.main(BIN, ARGS, BASELINE)
elif ARGS and ARGS[0] == "--remote":
    remote(10)
elif ARGS and ARGS[0] == "--serve":
    serve(int(ARGS[1]) if len(ARGS) > 1 else 100)
else:
    speed(int(ARGS[0]) if ARGS else 10)
