#!/usr/bin/env python3
"""The edge-proxy example (pike, sanity, permissions, dispatcher with failover;
example-plugins/edge-proxy) against the same logic in Kamailio's native cfg
(bench/kamailio/edge-proxy.cfg), each with one worker, alternating A (Kamailio) and
B (sipwasm) for `--rounds` rounds, every server started fresh (issue 24).

  bench/compare-edge [--rounds 3] [--rate 300] [--seconds 10] [--search]

Calls: SIPp (tests/scenarios/uac_rr.xml: INVITE, 100/180/200, ACK and BYE along the
Record-Route) through the edge to one gateway (uas_rr.xml, answering the dispatcher's
OPTIONS probes with -aa). At `--rate` for `--seconds`: the server's CPU per call (user +
system time of its processes, from /proc, over the calls completed). With `--search`: the
highest sustained rate of a rising series (at most 0.1 % failed, 95 % of the offered
rate completed). Pike's density and the INVITE pipe's limit are raised on both sides (one
SIPp source at hundreds of calls a second is a flood to the defaults): every request is
still counted.

Everything on 127.0.0.1; every process started here is stopped by its pid. Run
`bench/compare-edge` (it builds first), not this file.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS = os.environ.get("HARNESS", os.path.join(os.path.dirname(ROOT), "shared", "bench"))
SIPWASM = os.path.join(ROOT, "target", "release", "sipwasm")
SCENARIOS = os.path.join(ROOT, "tests", "scenarios")
KAMAILIO_PORT, SIPWASM_PORT, GATEWAY_PORT, SIPP_PORT = 5270, 5280, 5290, 5291
DENSITY = 10_000_000
RATES = [500, 1000, 1500, 2000, 2500, 3000, 3600, 4300, 5200, 6200]

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
from importlib.machinery import SourceFileLoader  # noqa: E402

_state = SourceFileLoader("compare_state", os.path.join(ROOT, "bench", "compare-state.py")).load_module()
log, wait_idle, answers, Procs = _state.log, _state.wait_idle, _state.answers, _state.Procs


def tree_cpu_s(pid):
    """User + system seconds of `pid` and its descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                parts = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(d)] = (int(parts[1]), int(parts[11]) + int(parts[12]))
    keep, total = {pid}, 0
    changed = True
    while changed:
        changed = False
        for p, (ppid, _) in stats.items():
            if ppid in keep and p not in keep:
                keep.add(p)
                changed = True
    for p in keep:
        total += stats.get(p, (0, 0))[1]
    return total / ticks


def sipwasm_config(dir):
    src = open(os.path.join(ROOT, "config", "examples", "edge-proxy.toml")).read()
    src = src.replace("127.0.0.1:5081", "127.0.0.1:%d" % GATEWAY_PORT)
    # one gateway: both servers balance over a set of one
    head, sep, rest = src.partition("[[dispatcher.destination]]\nset = 1\nuri = \"sip:127.0.0.1:5082\"\n")
    src = head + rest
    src = src.replace("workers = 2", "workers = 1")
    src = src.replace("reqs_density_per_unit = 30 ", "reqs_density_per_unit = %d " % DENSITY)
    src = src.replace("limit = 200 ", "limit = %d " % DENSITY)
    src = src.replace('"../../target', '"' + os.path.join(ROOT, "target"))
    path = os.path.join(dir, "edge-proxy.toml")
    with open(path, "w") as f:
        f.write(src)
    return path


def kamailio_files(dir):
    ds = os.path.join(dir, "dispatcher.list")
    with open(ds, "w") as f:
        f.write("1 sip:127.0.0.1:%d 0 0\n" % GATEWAY_PORT)
    addr = os.path.join(dir, "address.list")
    with open(addr, "w") as f:
        f.write("1 127.0.0.0 8 0 lab\n")
    return ds, addr


def start_server(which, dir, procs):
    """A fresh server: (pid, port, stop)."""
    if which == "kamailio":
        ds, addr = kamailio_files(dir)
        env = dict(os.environ, DS_LIST='"%s"' % ds, ADDRESS_LIST='"%s"' % addr, DENSITY=str(DENSITY), RL_PIPE='"1:TAILDROP:%d"' % DENSITY)
        out = subprocess.run([os.path.join(HARNESS, "kamailio-up"),
                              os.path.join(ROOT, "bench", "kamailio", "edge-proxy.cfg"),
                              str(KAMAILIO_PORT), "--children", "1", "--uas-port", str(GATEWAY_PORT)],
                             capture_output=True, text=True, env=env, check=True)
        pid = int(out.stdout.split()[0])

        def stop():
            subprocess.run([os.path.join(HARNESS, "kamailio-up"), "--stop", str(pid)],
                           capture_output=True)
        port = KAMAILIO_PORT
    else:
        p = procs.start([SIPWASM, "run", "--config", sipwasm_config(dir), "--listen",
                         "udp:127.0.0.1:%d" % SIPWASM_PORT],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pid, port = p.pid, SIPWASM_PORT

        def stop():
            p.terminate()
            p.wait(10)
    deadline = time.time() + 20
    while not answers(port):
        if time.time() > deadline:
            stop()
            raise SystemExit("compare-edge: %s did not answer on %d" % (which, port))
        time.sleep(0.2)
    # the first probes reached the gateway; the set is active
    time.sleep(1.5)
    return pid, port, stop


def run_calls(dir, name, port, rate, seconds):
    """SIPp calls at `rate` for `seconds`: its statistics."""
    wd = os.path.join(dir, name)
    os.makedirs(wd, exist_ok=True)
    calls = rate * seconds
    limit = seconds + 30
    args = ["sipp", "127.0.0.1:%d" % port, "-i", "127.0.0.1", "-p", str(SIPP_PORT),
            "-sf", os.path.join(SCENARIOS, "uac_rr.xml"), "-r", str(rate), "-m", str(calls),
            "-l", str(max(rate * 3, 100)), "-recv_timeout", "2000", "-timeout", "%ds" % limit,
            "-timeout_error", "-trace_stat", "-stf", "stat.csv", "-fd", "1", "-nostdin"]
    subprocess.run(args, cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=limit + 15)
    out = subprocess.run([sys.executable, os.path.join(HARNESS, "lib", "sipp_stats.py"),
                          os.path.join(wd, "stat.csv")], capture_output=True, text=True).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def measure(which, dir, procs, rate, seconds, search):
    pid, port, stop = start_server(which, dir, procs)
    try:
        wait_idle()
        cpu0 = tree_cpu_s(pid)
        r = run_calls(dir, "%s-cpu-%d" % (which, time.time_ns()), port, rate, seconds)
        cpu = tree_cpu_s(pid) - cpu0
        completed, failed = int(r.get("completed", 0)), int(r.get("failed", 0))
        us = 1e6 * cpu / max(1, completed)
        log("%s rate=%d completed=%d failed=%d cpu_s=%.2f us_per_call=%.1f"
            % (which, rate, completed, failed, cpu, us))
        best = 0.0
        if search:
            for offered in RATES:
                wait_idle()
                s = run_calls(dir, "%s-max-%d" % (which, offered), port, offered, 5)
                done, bad = int(s.get("completed", 0)), int(s.get("failed", 0))
                cps = done / max(0.001, float(s.get("elapsed_s", 0) or 0))
                ok = bad <= 0.001 * max(1, done + bad) and cps >= 0.95 * offered
                log("STEP %s offered=%d completed=%d failed=%d cps=%.0f sustained=%s"
                    % (which, offered, done, bad, cps, "yes" if ok else "no"))
                if not ok:
                    break
                best = max(best, cps)
        return us, best, failed
    finally:
        stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=300)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--search", action="store_true")
    a = ap.parse_args()
    for tool in ("sipp", "kamailio"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            raise SystemExit("compare-edge: %s is missing" % tool)
    dir = tempfile.mkdtemp(prefix="compare-edge-")
    procs = Procs()
    gw_dir = os.path.join(dir, "gateway")
    os.makedirs(gw_dir)
    gateway = procs.start(["sipp", "-sf", os.path.join(SCENARIOS, "uas_rr.xml"), "-aa",
                           "-i", "127.0.0.1", "-p", str(GATEWAY_PORT), "-m", "100000000",
                           "-timeout", "7200s", "-nostdin"],
                          cwd=gw_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    results = {"kamailio": [], "sipwasm": []}
    try:
        for _ in range(a.rounds):
            for which in ("kamailio", "sipwasm"):
                results[which].append(measure(which, dir, procs, a.rate, a.seconds, a.search))
    finally:
        procs.stop_all()
        if gateway.poll() is None:
            gateway.kill()
        shutil.rmtree(dir, ignore_errors=True)
    k, s = results["kamailio"], results["sipwasm"]
    med = lambda v: statistics.median(v)
    ratios = [b[0] / a_[0] for a_, b in zip(k, s) if a_[0] > 0]
    line = ("EDGE-COMPARE rate=%d rounds=%d kamailio_us_per_call=%.1f sipwasm_us_per_call=%.1f "
            "ratio_cpu_per_call=%.3f round_ratios=%s failed=%d/%d"
            % (a.rate, a.rounds, med([x[0] for x in k]), med([x[0] for x in s]),
               med([x[0] for x in s]) / max(1e-9, med([x[0] for x in k])),
               "/".join("%.3f" % r for r in sorted(ratios)),
               sum(x[2] for x in k), sum(x[2] for x in s)))
    if a.search:
        kc, sc = med([x[1] for x in k]), med([x[1] for x in s])
        line += " kamailio_max_cps=%.0f sipwasm_max_cps=%.0f ratio_cps=%.3f" % (kc, sc, sc / max(1, kc))
    print(line)


if __name__ == "__main__":
    main()
