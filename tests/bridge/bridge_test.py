#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Bridge tests with real components.

Each scenario starts its own nats-server processes on 127.0.0.1 (free
ports, stores in a temporary directory), a producer process that fills a
ring with numbered, checksummed messages, shmring-bridge in both
directions, and a consumer process that checks every message arriving in a
second ring: none lost, none duplicated, in order. Faults are applied
while messages flow. Afterwards the stream must hold each message exactly
once.

    bridge_test.py BUILD_DIR SCENARIO

Exit status: 0 pass, 1 fail, 77 skipped (no nats-server).
SHMRING_BRIDGE_SCALE=N multiplies the message counts (soak runs).
"""
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SCALE = int(os.environ.get("SHMRING_BRIDGE_SCALE", "1"))
NATS = shutil.which("nats-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class Proc:
    """A child process with its output in a log file."""

    def __init__(self, t, name, argv):
        self.t, self.name, self.argv = t, name, argv
        self.log = os.path.join(t.tmp, name + ".log")
        self.p = None
        self.starts = 0

    def start(self):
        self.starts += 1
        with open(self.log, "a") as f:
            f.write("---- start %d: %s\n" % (self.starts, " ".join(self.argv)))
            f.flush()
            self.p = subprocess.Popen(self.argv, stdout=f, stderr=subprocess.STDOUT)
        return self

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def kill(self):
        if self.alive():
            self.p.kill()
        if self.p:
            self.p.wait()

    def stop(self, timeout=15):
        if self.alive():
            self.p.send_signal(signal.SIGCONT)
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def tail(self, n=15):
        return "\n".join("    " + l for l in self.text().splitlines()[-n:])


class Server(Proc):
    def __init__(self, t, name, cluster=None, extra=(), port=None):
        self.port = port or free_port()
        self.store = os.path.join(t.tmp, name)
        argv = [NATS, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", self.store,
                "-n", name] + list(extra)
        if cluster:
            self.cport, routes, cname = cluster
            argv += ["--cluster_name", cname, "--cluster", "nats://127.0.0.1:%d" % self.cport,
                     "--routes", ",".join("nats://127.0.0.1:%d" % p for p in routes)]
        super().__init__(t, name, argv)
        self.url = "nats://127.0.0.1:%d" % self.port

    def start(self, wait=True):
        super().start()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            check(self.alive(), "nats-server %s exited:\n%s" % (self.name, self.tail()))
            if "Server is ready" in self.text().split("---- start %d" % self.starts)[-1]:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise Fail("nats-server %s not ready:\n%s" % (self.name, self.tail()))


class Test:
    def __init__(self, build):
        self.build = build
        self.tmp = tempfile.mkdtemp(prefix="shmring-bridge-test.")
        self.procs = []
        self.rings = []
        self.bridge = os.path.join(build, "bridge", "shmring-bridge")
        self.peer = os.path.join(build, "tests", "bridge", "bridge_peer")
        self.n = 0

    def ring(self, what):
        self.n += 1
        name = "/brtest_%d_%s_%d" % (os.getpid(), what, self.n)
        self.rings.append(name)
        return name

    def proc(self, name, argv):
        p = Proc(self, name, argv)
        self.procs.append(p)
        return p

    def server(self, name, **kw):
        s = Server(self, name, **kw)
        self.procs.append(s)
        return s

    def cluster(self, n=3):
        cports = [free_port() for _ in range(n)]
        nodes = []
        for i in range(n):
            others = [p for j, p in enumerate(cports) if j != i]
            nodes.append(self.server("node%d" % (i + 1), cluster=(cports[i], others, "brtest")))
        for s in nodes:
            s.start(wait=False)
        for s in nodes:
            s.wait_ready()
        return nodes

    def to_stream(self, ring, urls, stream, subject, *extra, name="to_stream"):
        return self.proc(name, [self.bridge, "--to-stream", "--ring", ring, "--servers", urls,
                                "--stream", stream, "--subject", subject] + list(extra))

    def from_stream(self, ring, urls, stream, subject, durable, *extra, name="from_stream"):
        return self.proc(name, [self.bridge, "--from-stream", "--ring", ring, "--servers", urls,
                                "--stream", stream, "--subject", subject, "--durable", durable]
                         + list(extra))

    def stream_info(self, url, stream):
        out = subprocess.run([self.peer, "stream", url, stream], capture_output=True, text=True,
                             timeout=30)
        check(out.returncode == 0, "stream info: " + out.stderr)
        f = out.stdout.split()
        return int(f[1]), int(f[3])

    def dump(self, ring, json_out=False):
        """shmring-dump's report of a ring (text, or the parsed JSON)."""
        argv = [os.path.join(self.build, "tools", "shmring-dump")] + (["--json"] if json_out else []) + [ring]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        check(out.returncode == 0, "shmring-dump %s: %s" % (ring, out.stderr))
        if json_out:
            import json
            return json.loads(out.stdout)
        return out.stdout

    def sidecar(self, ring):
        """The bridge's sidecar fields (include/shmring/bridge.h)."""
        with open("/dev/shm" + ring + ".bridge", "rb") as f:
            b = f.read(4096)
        names = ["acked_end", "last_pos", "has_last", "published", "acked", "duplicates",
                 "pending", "resyncs", "stream_seq", "refused", "lag", "reconnects", "last_seq",
                 "intent_seq", "intent_pos", "committed", "skipped", "consumer_resets"]
        d = dict(zip(names, struct.unpack_from("<18Q", b, 64)))
        d["salvaged"], d["lost"] = struct.unpack_from("<2Q", b, 224)
        d["status"] = struct.unpack_from("<I", b, 20)[0]
        d["error"] = b[640:896].split(b"\0")[0].decode(errors="replace")
        return d

    def cleanup(self):
        for p in reversed(self.procs):
            p.stop(5)
        for r in self.rings:
            for n in (r, r + ".bridge"):
                try:
                    os.unlink("/dev/shm" + n)
                except OSError:
                    pass

    def dump_logs(self):
        for p in self.procs:
            print("  %s (%s):" % (p.name, p.argv[0]))
            print(p.tail())


def flow(t, urls, count, subject="s.a", stream="S", fault=None, src_type="msg_spsc",
         dst_type="msg_spsc", maxlen=200, cap=1 << 16, extra_to=(), extra_from=(),
         timeout=120, replicas=1, check_url=None, rate=0):
    """producer -> ring -> bridge -> stream -> bridge -> ring -> consumer;
    `fault(t, ctx)` is called repeatedly while it runs."""
    src, dst = t.ring("src"), t.ring("dst")
    cons = t.proc("consumer", [t.peer, "consume", dst, dst_type, str(count), str(cap)]).start()
    prod = t.proc("producer", [t.peer, "produce", src, src_type, str(count), str(maxlen),
                               str(cap), str(rate)]).start()
    time.sleep(0.2)
    common = ["--ack-wait-ms", "2000", "--retry-max-ms", "500"]
    b1 = t.to_stream(src, urls, stream, subject, "--create-stream", "yes", "--replicas",
                     str(replicas), *common, *extra_to)
    b2 = t.from_stream(dst, urls, stream, subject, "d1", "--create-stream", "yes", "--replicas",
                       str(replicas), *common, *extra_from)
    b1.start()
    b2.start()
    ctx = {"b1": b1, "b2": b2, "src": src, "dst": dst, "faults": 0}
    timeout *= SCALE
    end = time.time() + timeout
    while cons.alive() and time.time() < end:
        if fault:
            fault(t, ctx)
        else:
            time.sleep(0.1)
        for b in (b1, b2):
            if b.p.poll() not in (None, -9, -19):
                raise Fail("bridge %s exited with %s:\n%s" % (b.name, b.p.returncode, b.tail()))
    rc = cons.wait(1)
    check(rc is not None, "consumer did not finish in %d s:\n%s" % (timeout, cons.tail(3)))
    check(rc == 0, "consumer failed:\n%s" % cons.tail(5))
    print("  %s (%d faults)" % (cons.text().strip().splitlines()[-1], ctx["faults"]))
    # Let the to-stream bridge see its last acknowledgements, then check
    # that the stream holds every message once.
    # A cluster whose node just restarted may answer from a replica that
    # is still catching up: ask again for a while if it reports fewer
    # (never more: a duplicate fails at once).
    end = time.time() + 30
    while True:
        msgs, last = t.stream_info(check_url or urls, stream)
        if msgs >= count or time.time() > end:
            break
        time.sleep(0.5)
    if "--order" not in extra_to:
        check(msgs == count, "stream %s holds %d messages, %d were sent" % (stream, msgs, count))
        print("  stream %s holds %d messages (last sequence %d): each once" % (stream, msgs, last))
    for b in (b1, b2, prod):
        b.stop()
    return ctx


# ---- scenarios ----

def s_e2e(t):
    """Single server, message rings both sides; shmring-dump shows both bridges."""
    s = t.server("n1").start()
    n = 50000 * SCALE
    ctx = flow(t, s.url, n)
    src = t.dump(ctx["src"], json_out=True)
    dst = t.dump(ctx["dst"], json_out=True)
    bs, bd = src.get("bridge"), dst.get("bridge")
    check(bs and bs["direction"] == "to-stream" and bs["acked"] == n and bs["lag"] == 0 and
          bs["stream_seq"] == n, "dump of the source ring: %s" % bs)
    check(bd and bd["direction"] == "from-stream" and bd["last_seq"] == n and bd["committed"] == n,
          "dump of the destination ring: %s" % bd)
    text = t.dump(ctx["dst"])
    check("last stream sequence %d committed to the ring" % n in text, "dump text:\n" + text)
    print("  shmring-dump: source acknowledged %d, lag 0; destination last stream sequence %d"
          % (bs["acked"], bd["last_seq"]))


def s_types(t):
    """Each source ring type (SPSC, MSG_MPSC, MPMC) into an SPSC ring."""
    s = t.server("n1").start()
    for i, src in enumerate(("spsc", "msg_mpsc", "mpmc")):
        print(" source %s" % src)
        flow(t, s.url, 10000 * SCALE, subject="t.%d" % i, stream="T%d" % i, src_type=src,
             dst_type="spsc" if src != "msg_mpsc" else "msg_spsc", maxlen=64)


def s_kill_bridge(t):
    """SIGKILL either bridge at random moments, restart it."""
    s = t.server("n1").start()

    def fault(t, ctx):
        time.sleep(random.uniform(0.2, 1.0))
        b = random.choice((ctx["b1"], ctx["b2"]))
        b.kill()
        ctx["faults"] += 1
        time.sleep(random.uniform(0.0, 0.3))
        b.start()

    flow(t, s.url, 100000 * SCALE, fault=fault, timeout=150, rate=10000)


def s_kill_mpmc(t):
    """MPMC source ring: SIGKILL the ring -> stream bridge while it holds
    claims; its successor publishes what the dead one held."""
    s = t.server("n1").start()

    def fault(t, ctx):
        time.sleep(random.uniform(0.2, 0.8))
        ctx["b1"].kill()
        ctx["faults"] += 1
        time.sleep(random.uniform(0.0, 0.2))
        ctx["b1"].start()

    ctx = flow(t, s.url, 40000 * SCALE, fault=fault, timeout=150, rate=5000, src_type="mpmc",
               dst_type="spsc", maxlen=64, cap=4096)
    sc = t.sidecar(ctx["src"])
    check(sc["lost"] == 0, "the bridge counted %d messages lost" % sc["lost"])
    print("  %d messages published again from killed bridges' claims" % sc["salvaged"])


def s_server_restart(t):
    """Stop and restart the server; SIGSTOP it longer than the ack wait."""
    s = t.server("n1").start()
    state = {"n": 0}

    def fault(t, ctx):
        time.sleep(random.uniform(0.5, 1.5))
        if state["n"] % 2 == 0:
            s.stop()
            time.sleep(random.uniform(0.2, 1.0))
            s.start()
        else:
            s.signal(signal.SIGSTOP)
            time.sleep(3.0)  # ack wait is 2 s
            s.signal(signal.SIGCONT)
        state["n"] += 1
        ctx["faults"] += 1

    flow(t, s.url, 40000 * SCALE, fault=fault, timeout=150, rate=5000)


def s_cluster(t):
    """3-node cluster, R3 stream; SIGKILL one node at a time and restart it."""
    nodes = t.cluster()
    urls = ",".join(n.url for n in nodes)

    def fault(t, ctx):
        time.sleep(random.uniform(1.5, 3.0))
        n = random.choice(nodes)
        n.kill()
        ctx["faults"] += 1
        time.sleep(random.uniform(0.5, 1.5))
        n.start()

    flow(t, urls, 20000 * SCALE, fault=fault, replicas=3, timeout=170, rate=4000)


def s_bad_input(t):
    """Unreachable server, missing stream, oversize message, wrong credentials."""
    # Unreachable: the bridge says so and keeps trying; once a server is
    # there, the messages flow and none is lost.
    port = free_port()
    url = "nats://127.0.0.1:%d" % port
    src, dst = t.ring("src"), t.ring("dst")
    cons = t.proc("consumer", [t.peer, "consume", dst, "msg_spsc", "2000"]).start()
    prod = t.proc("producer", [t.peer, "produce", src, "msg_spsc", "2000"]).start()
    time.sleep(0.2)
    b1 = t.to_stream(src, url, "U", "u.a", "--create-stream", "yes", "--retry-max-ms", "300").start()
    b2 = t.from_stream(dst, url, "U", "u.a", "d1", "--create-stream", "yes", "--retry-max-ms",
                       "300").start()
    time.sleep(1.5)
    check(b1.alive() and b2.alive(), "a bridge gave up on an unreachable server")
    check("cannot reach" in b1.text() and "cannot reach" in b2.text(),
          "no clear message for an unreachable server:\n" + b1.tail(3))
    check(t.sidecar(src)["status"] == 1, "sidecar status is not CONNECTING")
    print("  unreachable: both bridges report it and retry")
    t.server("late", port=port).start()
    check(cons.wait(60) == 0, "consumer after the server came:\n" + cons.tail(3))
    print("  then the server came: " + cons.text().strip().splitlines()[-1])
    for p in (b1, b2, prod):
        p.stop()

    # The ring holds stream U up to sequence 2000; a stream that ends
    # before that (made again: sequences start over) is refused.
    b = t.from_stream(dst, url, "U2", "u.b", "d2", "--create-stream", "yes", name="stale").start()
    check(b.wait(30) == 2, "stale stream: exit status %s" % b.p.returncode)
    check("holds stream U up to sequence 2000, not stream U2" in b.text(),
          "another stream's state:\n" + b.tail(3))
    print("  another stream into the same ring: exit 2, 'holds stream U up to sequence 2000'")

    # Missing stream: a clear error, exit status 2.
    r = t.ring("x")
    p = t.proc("missing", [t.peer, "produce", r, "msg_spsc", "10"]).start()
    time.sleep(0.2)
    b = t.to_stream(r, url, "NOPE", "nope.a", name="missing_stream").start()
    check(b.wait(30) == 2, "missing stream: exit status %s" % b.p.returncode)
    check("stream NOPE does not exist" in b.text(), "missing stream message:\n" + b.tail(3))
    b = t.from_stream(t.ring("y"), url, "NOPE", "nope.a", "d", "--ring-capacity", "65536",
                      name="missing_stream2").start()
    check(b.wait(30) == 2, "missing stream (from): exit status %s" % b.p.returncode)
    check("stream NOPE does not exist" in b.text(), "missing stream message:\n" + b.tail(3))
    p.stop()
    print("  missing stream: exit 2, 'stream NOPE does not exist'")

    # Oversize: a server whose max_payload is 64 KiB, a ring message of
    # 100 KB: refused, counted, left in the ring; the ones before it pass.
    conf = os.path.join(t.tmp, "small.conf")
    with open(conf, "w") as f:
        f.write("max_payload: 65536\n")
    small = t.server("small", extra=("-c", conf)).start()
    src = t.ring("big")
    prod = t.proc("producer_big", [t.peer, "produce", src, "msg_spsc", "100", "200",
                                    str(1 << 18), "0", "100000"]).start()
    time.sleep(0.2)
    b = t.to_stream(src, small.url, "B", "b.a", "--create-stream", "yes", name="oversize").start()
    check(b.wait(30) == 2, "oversize: exit status %s" % b.p.returncode)
    check("larger than the stream takes" in b.text(), "oversize message:\n" + b.tail(3))
    sc = t.sidecar(src)
    check(sc["refused"] == 1, "refused count %d" % sc["refused"])
    check(sc["acked"] == 100, "acked %d of the 100 before it" % sc["acked"])
    check(sc["lag"] >= 100000, "the big message is no longer in the ring (lag %d)" % sc["lag"])
    text = t.dump(src)
    check("refused 1" in text and "error: " in text and "failed" in text,
          "dump of the refusing bridge:\n" + text)
    msgs, _ = t.stream_info(small.url, "B")
    check(msgs == 100, "stream B holds %d" % msgs)
    print("  oversize: exit 2, refused 1, the 100 before it in the stream, the big one still in the ring")
    prod.stop()

    # Oversize the other way: a 3000-byte stream message for a ring whose
    # largest message is 1024 bytes: refused, not acknowledged; the 100
    # before it are in the ring.
    src = t.ring("big2")
    prod = t.proc("producer_big2", [t.peer, "produce", src, "msg_spsc", "100", "200",
                                     str(1 << 16), "0", "3000"]).start()
    time.sleep(0.2)
    b = t.to_stream(src, small.url, "B2", "b2.a", "--create-stream", "yes", name="big2_to").start()
    end = time.time() + 30
    while time.time() < end:
        try:
            if t.stream_info(small.url, "B2")[0] >= 101:
                break
        except Fail:
            pass  # not created yet
        time.sleep(0.2)
    b.stop()
    dst = t.ring("small")
    cons = t.proc("consumer_small", [t.peer, "consume", dst, "msg_spsc", "100", "4096"]).start()
    time.sleep(0.2)
    b = t.from_stream(dst, small.url, "B2", "b2.a", "d", name="oversize_from").start()
    check(b.wait(30) == 2, "oversize into the ring: exit status %s" % b.p.returncode)
    check("larger than ring" in b.text() and "stays in the stream" in b.text(),
          "oversize into the ring, message:\n" + b.tail(3))
    sc = t.sidecar(dst)
    check(sc["refused"] == 1 and sc["last_seq"] == 100,
          "oversize into the ring: refused %d, last_seq %d" % (sc["refused"], sc["last_seq"]))
    check(cons.wait(10) == 0, "consumer of the small ring:\n" + cons.tail(3))
    print("  oversize into a ring: exit 2, refused 1, the 100 before it delivered, the big one in the stream")
    prod.stop()

    # Wrong credentials: a server with a user; a wrong password.
    auth = t.server("auth", extra=("--user", "bridge", "--pass", "right")).start()
    r = t.ring("z")
    p = t.proc("p_auth", [t.peer, "produce", r, "msg_spsc", "10"]).start()
    time.sleep(0.2)
    b = t.to_stream(r, auth.url, "A", "a.a", "--user", "bridge", "--password", "wrong",
                    name="wrong_creds").start()
    check(b.wait(30) == 2, "wrong credentials: exit status %s" % b.p.returncode)
    check("authorization refused" in b.text(), "wrong credentials message:\n" + b.tail(3))
    credsfile = os.path.join(t.tmp, "missing.creds")
    b = t.to_stream(r, auth.url, "A", "a.a", "--creds", credsfile, name="missing_creds").start()
    check(b.wait(30) == 2 and "missing.creds" in b.text(), "missing creds file:\n" + b.tail(3))
    b = t.to_stream(r, auth.url, "A", "a.a", "--user", "bridge", "--password", "right",
                    "--create-stream", "yes", name="right_creds").start()
    time.sleep(1.0)
    check(b.alive(), "right credentials: bridge exited:\n" + b.tail(3))
    b.stop()
    check(t.stream_info("nats://bridge:right@127.0.0.1:%d" % auth.port, "A")[0] == 10,
          "right credentials: stream A does not hold the 10 messages")
    p.stop()
    print("  wrong credentials: exit 2, 'authorization refused'; right ones pass")


SCENARIOS = {
    "e2e": s_e2e,
    "types": s_types,
    "kill_bridge": s_kill_bridge,
    "kill_mpmc": s_kill_mpmc,
    "server_restart": s_server_restart,
    "cluster": s_cluster,
    "bad_input": s_bad_input,
}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        print("usage: bridge_test.py BUILD_DIR (%s)" % "|".join(SCENARIOS))
        return 2
    if not NATS:
        print("nats-server not found: skipped")
        return 77
    random.seed(int(os.environ.get("SHMRING_BRIDGE_SEED", str(os.getpid()))))
    t = Test(sys.argv[1])
    start = time.time()
    try:
        SCENARIOS[sys.argv[2]](t)
    except Fail as e:
        print("FAIL: %s" % e)
        t.dump_logs()
        t.cleanup()
        print("(logs kept in %s)" % t.tmp)
        return 1
    except BaseException:
        # Anything else (a missing binary, an interrupt): stop what we
        # started before going.
        t.cleanup()
        print("(logs kept in %s)" % t.tmp)
        raise
    t.cleanup()
    if os.environ.get("SHMRING_BRIDGE_KEEP"):
        print("(logs kept in %s)" % t.tmp)
    else:
        shutil.rmtree(t.tmp, ignore_errors=True)
    print("pass (%.1f s)" % (time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
