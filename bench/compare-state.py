#!/usr/bin/env python3
"""REGISTER/s and calls/s of the registrar-proxy example with its registrations in memory
and in Redis, with one router and with two sharing them, in one run (issue 23).

  bench/compare-state [--users 1000] [--seconds 5] [--only memory|redis] [--instances 1,2]

REGISTER: SIPp signs users in (REGISTER, 401, REGISTER with a digest, 200), one SIPp per
router, at rising offered rates until a step is not sustained (more than 0.1 % failed, or
under 95 % of the offered rate completed); the best sustained total rate is reported.
Calls: every user registered with SIPp's UAS as contact, then SIPp calls them (INVITE,
407, INVITE with a digest, the location lookup, 180/200 from the UAS, ACK, BYE), the same
search. With Redis and two routers the callee was registered through either router (each
looks it up in Redis); with memory each router registered every user itself.

Everything on 127.0.0.1; every process started here is stopped by its pid. The machine has
two cores: SIPp, Redis and the routers share them, so two routers measure what sharing
costs, not scale-out. Run `bench/compare-state` (it builds first), not this file.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS = os.environ.get("HARNESS", os.path.join(os.path.dirname(ROOT), "shared", "bench"))
SIPWASM = os.path.join(ROOT, "target", "release", "sipwasm")
SCENARIOS = os.path.join(ROOT, "tests", "scenarios")
# the suite's scenarios, their {PLACEHOLDERS} taken from the injection file per call; the
# credentials are a whole field (SIPp reads keywords inside [authentication] only there)
AUTH = "[authentication username={USER} password={PASSWORD}]"
REGISTER = ("uac_register.xml", {AUTH: "[field2]", "{USER}": "[field0]"})
CALL = ("uac_auth_call.xml", {AUTH: "[field2]", "{CALLEE}": "[field0]", "{USER}": "[field1]"})
ROUTER_PORTS = [5160, 5170]
SIPP_PORTS = [5161, 5171]
UAS_PORT = 5190
REDIS_PORT = 6391
REGISTER_RATES = [1000, 2000, 3000, 4000, 5000, 6500, 8000, 10000, 12500, 15000, 18000]
CALL_RATES = [100, 200, 300, 400, 600, 800, 1000, 1300, 1600]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def wait_idle(limit_pct=20.0, most=60.0):
    """Wait (at most `most` s) until the machine is nearly idle: the harness' rule."""
    def busy():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v) - v[3] - v[4], sum(v)
    end = time.time() + most
    while time.time() < end:
        b0, t0 = busy()
        time.sleep(1)
        b1, t1 = busy()
        pct = 100.0 * os.cpu_count() * (b1 - b0) / max(1, t1 - t0)
        if pct < limit_pct:
            return
    log("compare-state: the machine stayed busy; measuring anyway")


def config(users, dir):
    """The example's config with `users` users (uNNNN / pwNNNN) and no per-user call
    limits (the benchmark's callers call more than a person would)."""
    src = open(os.path.join(ROOT, "config", "examples", "registrar-proxy.toml")).read()
    out = []
    for line in src.splitlines():
        if line.startswith('"ha1.'):
            continue
        if line.startswith("max_calls"):
            line = "max_calls = 100000"
        if line.startswith("calls_per_minute"):
            line = "calls_per_minute = 10000000"
        if line.startswith("workers"):
            line = "workers = 2"
        line = line.replace('"../../target', '"' + os.path.join(ROOT, "target"))
        out.append(line)
        if line.startswith('realm = '):
            out += ['"user.u%04d" = "pw%04d"' % (i, i) for i in range(users)]
    path = os.path.join(dir, "bench-state.toml")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path


def answers(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    s.bind(("127.0.0.1", 0))
    lp = s.getsockname()[1]
    msg = ("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-up%d\r\n"
           "From: <sip:up@127.0.0.1>;tag=u\r\nTo: <sip:127.0.0.1>\r\nCall-ID: up%d\r\n"
           "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (port, lp, time.time_ns(), lp))
    try:
        s.sendto(msg.encode(), ("127.0.0.1", port))
        s.recv(4096)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Procs:
    """Processes started here, stopped by pid."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []


def sipp(dir, name, router_port, local_port, scenario, inf, rate, calls, extra=()):
    """Run one SIPp uac; its statistics (sipp_stats.py's keys)."""
    wd = os.path.join(dir, name)
    os.makedirs(wd, exist_ok=True)
    file, fields = scenario
    xml = open(os.path.join(SCENARIOS, file)).read().replace("{DOMAIN}", "sipwasm.local")
    for k, v in fields.items():
        xml = xml.replace(k, v)
    with open(os.path.join(wd, file), "w") as f:
        f.write(xml)
    limit = int(calls / max(rate, 1)) + 20
    args = ["sipp", "127.0.0.1:%d" % router_port, "-i", "127.0.0.1", "-p", str(local_port),
            "-sf", os.path.join(wd, file), "-inf", inf, "-r", str(rate), "-d", "0",
            "-m", str(calls), "-nr", "-recv_timeout", "2000", "-timeout", "%ds" % limit,
            "-timeout_error", "-trace_stat", "-stf", "stat.csv", "-fd", "1", "-nostdin"]
    subprocess.run(args + list(extra), cwd=wd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=limit + 15)
    out = subprocess.run([sys.executable, os.path.join(HARNESS, "lib", "sipp_stats.py"),
                          os.path.join(wd, "stat.csv")], capture_output=True, text=True).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def step(dir, label, n, scenario, infs, rate, seconds):
    """Offer `rate` in total, split over `n` routers: (completed/s, sustained)."""
    per = max(1, rate // n)
    calls = per * seconds
    wait_idle()
    results = [None] * n

    def run(i):
        results[i] = sipp(dir, "%s-%d-%d" % (label, rate, i), ROUTER_PORTS[i], SIPP_PORTS[i],
                          scenario, infs[i], per, calls)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    completed = sum(int(r.get("completed", 0)) for r in results)
    failed = sum(int(r.get("failed", 0)) for r in results)
    elapsed = max(float(r.get("elapsed_s", 0) or 0) for r in results) or 1.0
    cps = completed / elapsed
    ok = failed <= 0.001 * max(1, completed + failed) and cps >= 0.95 * per * n
    log("STEP %s offered=%d completed=%d failed=%d cps=%.0f sustained=%s"
        % (label, per * n, completed, failed, cps, "yes" if ok else "no"))
    return cps, ok


def search(dir, label, n, scenario, infs, rates, seconds):
    best = 0.0
    for r in rates:
        cps, ok = step(dir, label, n, scenario, infs, r, seconds)
        if not ok:
            break
        best = max(best, cps)
    return best


def start(backend, n, users, dir, phase):
    """Redis (for that backend) and `n` routers, fresh: the processes."""
    procs = Procs()
    state = []
    if backend == "redis":
        rdir = os.path.join(dir, "redis-" + phase)
        os.makedirs(rdir, exist_ok=True)
        procs.start(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--dir", rdir],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        state = ["--state-url", "redis://127.0.0.1:%d/0" % REDIS_PORT]
    cfg = config(users, dir)
    for i in range(n):
        procs.start([SIPWASM, "run", "--config", cfg, "--listen",
                     "udp:127.0.0.1:%d" % ROUTER_PORTS[i]] + state,
                    stdout=open(os.path.join(dir, "router%d-%s.log" % (i, phase)), "w"),
                    stderr=subprocess.STDOUT)
    for i in range(n):
        end = time.time() + 30
        while not answers(ROUTER_PORTS[i]):
            if time.time() > end:
                procs.stop_all()
                raise SystemExit("router %d did not start; see %s" % (i, dir))
            time.sleep(0.2)
    return procs


def measure(backend, n, users, seconds, dir):
    # REGISTER and calls on fresh routers (and Redis) each: the REGISTER search leaves
    # SIPp's own address as every user's contact
    label = "%s-%d" % (backend, n)
    procs = start(backend, n, users, dir, "register")
    try:
        # REGISTER: each router signs in every user (SIPp's address is the contact)
        reg = os.path.join(dir, "users.csv")
        with open(reg, "w") as f:
            f.write("SEQUENTIAL\n")
            for u in range(users):
                f.write("u%04d;-;[authentication username=u%04d password=pw%04d]\n" % (u, u, u))
        registers = search(dir, "register-" + label, n, REGISTER, [reg] * n,
                           REGISTER_RATES, seconds)
    finally:
        procs.stop_all()
    procs = start(backend, n, users, dir, "calls")
    try:
        # calls: every user registered from the UAS's port (its contact), then the UAS
        # starts there; with Redis one router's registrations serve both, in memory each
        # router needs its own
        for i in (range(1) if backend == "redis" else range(n)):
            r = sipp(dir, "contacts-%s-%d" % (label, i), ROUTER_PORTS[i], UAS_PORT,
                     REGISTER, reg, 500, users)
            if int(r.get("completed", 0)) != users:
                raise SystemExit("registering the callees through router %d: %s" % (i, r))
        # the suite's UAS that keeps the Record-Route in its 200 (SIPp's built-in drops it)
        procs.start(["sipp", "-sf", os.path.join(SCENARIOS, "uas_rr.xml"), "-i", "127.0.0.1",
                     "-p", str(UAS_PORT), "-timeout", "3600s", "-nostdin"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        calls_inf = []
        for i in range(n):
            path = os.path.join(dir, "calls%d.csv" % i)
            with open(path, "w") as f:
                f.write("SEQUENTIAL\n")
                for u in range(users):
                    # user u calls the next one
                    f.write("u%04d;u%04d;[authentication username=u%04d password=pw%04d]\n"
                            % ((u + 1) % users, u, u, u))
            calls_inf.append(path)
        calls = search(dir, "calls-" + label, n, CALL, calls_inf, CALL_RATES,
                       seconds)
        return registers, calls
    finally:
        procs.stop_all()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--only", choices=["memory", "redis"])
    ap.add_argument("--instances", default="1,2")
    ap.add_argument("--keep", help="keep the SIPp files and router logs here")
    a = ap.parse_args()
    dir = a.keep or tempfile.mkdtemp(prefix="compare-state-")
    os.makedirs(dir, exist_ok=True)
    got = {}
    try:
        for n in [int(x) for x in a.instances.split(",")]:
            for backend in ["memory", "redis"]:
                if a.only and backend != a.only:
                    continue
                sub = os.path.join(dir, "%s-%d" % (backend, n))
                os.makedirs(sub, exist_ok=True)
                got[(backend, n)] = measure(backend, n, a.users, a.seconds, sub)
                r, c = got[(backend, n)]
                print("RESULT backend=%s instances=%d register_per_s=%.0f calls_per_s=%.0f"
                      % (backend, n, r, c), flush=True)
        for n in sorted({k[1] for k in got}):
            m, r = got.get(("memory", n)), got.get(("redis", n))
            if m and r and m[0] and m[1]:
                print("COMPARE instances=%d redis/memory register=%.2f calls=%.2f"
                      % (n, r[0] / m[0], r[1] / m[1]), flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(dir, ignore_errors=True)


if __name__ == "__main__":
    main()
