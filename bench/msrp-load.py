#!/usr/bin/env python3
"""msrp-load: relay throughput. One client connection sends FRAMES SEND chunks of CHUNK
bytes, pipelined, To-Path = the relay, then a local sink; the sink (the next hop the relay
connects to) counts what arrives. Prints one RESULT line. Bounded: 60 s at most.

usage: msrp-load.py RELAY_PORT CHUNK FRAMES [SERVER_PID]
"""
import os, socket, sys, threading, time

port, chunk, frames = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
server_pid = int(sys.argv[4]) if len(sys.argv) > 4 else 0
DEADLINE = time.time() + 60


def cpu_ticks(root):
    """utime+stime of `root` and its descendants (Kamailio's children)."""
    if not root:
        return 0
    parent, ticks = {}, {}
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            s = open('/proc/%s/stat' % p).read()
        except OSError:
            continue
        f = s[s.rindex(')') + 2:].split()
        parent[int(p)] = int(f[1])
        ticks[int(p)] = int(f[11]) + int(f[12])
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += ticks.get(p, 0)
        todo.extend(c for c, pp in parent.items() if pp == p)
    return total


sink = socket.socket()
sink.bind(('127.0.0.1', 0))
sink.listen(4)
sink.settimeout(10)
sink_port = sink.getsockname()[1]
got = {'frames': 0, 'bytes': 0, 't_end': None, 'conns': 0}
lock = threading.Lock()
END = b'\r\n-------t'


def drain_one(c):
    c.settimeout(5)
    tail = b''
    while got['frames'] < frames and time.time() < DEADLINE:
        try:
            d = c.recv(1 << 20)
        except socket.timeout:
            break
        if not d:
            break
        buf = tail + d
        with lock:
            got['bytes'] += len(d)
            got['frames'] += buf.count(END)
            if got['frames'] >= frames:
                got['t_end'] = time.time()
        # keep what could be the start of an end-line cut by this read
        tail = buf[-(len(END) - 1):]


def drain():
    """Accept every connection the relay opens (it should open one) and count frames."""
    sink.settimeout(0.2)
    readers = []
    while got['frames'] < frames and time.time() < DEADLINE:
        try:
            c, _ = sink.accept()
        except socket.timeout:
            if readers and all(not r.is_alive() for r in readers):
                break
            continue
        got['conns'] += 1
        r = threading.Thread(target=drain_one, args=(c,))
        r.start()
        readers.append(r)
    for r in readers:
        r.join()
    if got['t_end'] is None:
        got['t_end'] = time.time()


t = threading.Thread(target=drain)
t.start()
body = b'x' * chunk
relay = 'msrp://127.0.0.1:%d/relay;tcp' % port
bob = 'msrp://127.0.0.1:%d/bob;tcp' % sink_port
cli = socket.create_connection(('127.0.0.1', port), timeout=10)
alice = 'msrp://127.0.0.1:%d/alice;tcp' % cli.getsockname()[1]


def frame(i):
    tid = 't%09d' % i
    head = ('MSRP %s SEND\r\nTo-Path: %s %s\r\nFrom-Path: %s\r\nX-Probe-Relay: yes\r\n'
            'Message-ID: m1\r\nByte-Range: %d-%d/*\r\nContent-Type: text/plain\r\n\r\n'
            % (tid, relay, bob, alice, i * chunk + 1, (i + 1) * chunk)).encode()
    return head + body + ('\r\n-------%s+\r\n' % tid).encode()


batch = 64
batches = [b''.join(frame(i) for i in range(j, min(j + batch, frames)))
           for j in range(0, frames, batch)]
cpu0 = cpu_ticks(server_pid)
t0 = time.time()
for b in batches:
    cli.sendall(b)
t.join(timeout=max(1, DEADLINE - time.time()))
cpu1 = cpu_ticks(server_pid)
cli.close()
elapsed = (got['t_end'] or time.time()) - t0
n = got['frames']
hz = os.sysconf('SC_CLK_TCK')
print('RESULT chunk=%d frames_sent=%d frames_relayed=%d relay_connections=%d elapsed_s=%.3f '
      'frames_per_s=%.0f mb_per_s=%.1f server_cpu_us_per_frame=%.1f'
      % (chunk, frames, n, got['conns'], elapsed, n / elapsed, n * chunk / elapsed / 1e6,
         (cpu1 - cpu0) / hz * 1e6 / max(n, 1)))
sys.exit(0 if n == frames else 1)
