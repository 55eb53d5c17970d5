# SPDX-License-Identifier: MIT
"""pypeer: the Python twin of ringpeer.c (same command line, same
messages, same JSON summary), so that a test can put either language on
either side of a ring. It goes through the binding's operations in turn:
single copies, bursts and zero copy on both sides.

  pypeer.py produce NAME --kind K --count N [--producer P] [--resume] [--retry-epipe]
  pypeer.py consume NAME --kind K [--count N --nprod P | --until-stop]
            [--resume] [--retry-epipe] [--log FILE]
  pypeer.py setproduce SET RING --kind K --count N --producer P
  pypeer.py setconsume SET --count N --nprod P
  pypeer.py wait NAME --kind K [--policy spin_sleep|spin|sleep] [--op pop|push|set]

produce and consume print "started" once attached (setconsume: "ready"
once the set exists), so that a test knows when to kill them. --resume
(SPSC): a producer starts at the ring's position, a consumer expects
that seq first and stops at seq N. --log (consume): every message's seq
is appended to FILE (8 bytes) before the message is released, so that a
consumer killed at any point loses nothing it did not log. `wait`
blocks forever in one call, for the KeyboardInterrupt test; it prints
"waiting" first.
"""

import argparse
import json
import os
import struct
import sys
import time
import zlib

import shmring

MAGIC = 0x4D525950
STOP = 0x504F5453
HDR = struct.Struct("<IIQII")
MSG_PAYLOAD_MAX = 300
STALL = 60.0  # seconds without progress: the run fails
PAT = bytes(((i * 7 + 3) & 0xFF) for i in range(256 + 2048))
KINDS = {"spsc": shmring.SPSC, "mpmc": shmring.MPMC, "msg_spsc": shmring.MSG_SPSC,
         "msg_mpsc": shmring.MSG_MPSC}


def payload(seq, producer, n):
    off = (seq * 31 + producer * 7) % 256
    return PAT[off:off + n]


def msg_len(seq, room, msg):
    return (seq * 7919) % (room + 1) if msg else seq % (room + 1)


def build(producer, seq, n):
    pl = payload(seq, producer, n)
    return HDR.pack(MAGIC, producer, seq, n, zlib.crc32(pl)) + pl


def stop_message():
    return HDR.pack(STOP, 0, 0, 0, 0)


def fatal(msg, code=2):
    print(f"pypeer: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


class Tally:
    def __init__(self, args):
        self.until_stop = args.until_stop
        self.msg = args.kind in (shmring.MSG_SPSC, shmring.MSG_MPSC)
        self.count = 0
        self.bad = 0
        self.next = {}
        self.per = {}

    def take(self, m):
        """Check one message (bytes or memoryview); True for a stop."""
        if len(m) < HDR.size:
            self.bad += 1
            return False
        magic, p, seq, n, crc = HDR.unpack_from(m)
        if magic == STOP:
            return True
        ok = (magic == MAGIC and HDR.size + n <= len(m)
              and zlib.crc32(m[HDR.size:HDR.size + n]) == crc
              and m[HDR.size:HDR.size + n] == payload(seq, p, n)
              and (not self.msg or len(m) == HDR.size + n))
        nxt = self.next.get(p)
        if ok:
            ok = (nxt is None or seq >= nxt) if self.until_stop else seq == (nxt or 0)
        if not ok:
            if self.bad < 5:
                print(f"pypeer: bad message: producer {p} seq {seq} len {n} (expected seq {nxt})",
                      file=sys.stderr)
            self.bad += 1
            return False
        self.next[p] = seq + 1
        c = self.per.setdefault(p, [0, 0, 0])
        c[0] += 1
        c[1] = (c[1] + seq) & 0xFFFFFFFFFFFFFFFF
        c[2] = (c[2] + seq * seq) & 0xFFFFFFFFFFFFFFFF
        self.count += 1
        return False

    def report(self):
        print(json.dumps({"count": self.count, "bad": self.bad,
                          "producers": {str(p): c for p, c in sorted(self.per.items())}}),
              flush=True)


def retrying(args, fn, *a):
    """fn(*a) with the stall timeout; -EPIPE retried with --retry-epipe."""
    while True:
        try:
            return fn(*a, timeout=STALL)
        except shmring.PeerGone:
            if not args.retry_epipe:
                raise
            time.sleep(0.001)
        except shmring.Timeout:
            fatal(f"no progress for {STALL} s")


def produce(args):
    r = shmring.Ring.open(args.name, shmring.PRODUCER, kind=args.kind)
    msg = isinstance(r, shmring.MessageRing)
    room = min(r.max_message - HDR.size, MSG_PAYLOAD_MAX) if msg else r.slot_size - HDR.size
    p = args.producer
    seq = r.position if args.resume else 0
    print("started", flush=True)
    while seq < args.count:
        mode = (seq // 64) % 3
        if mode == 0:
            retrying(args, r.push_wait, build(p, seq, msg_len(seq, room, msg)))
            seq += 1
        elif mode == 1:
            k = min(16, args.count - seq)
            batch = [build(p, s, msg_len(s, room, msg)) for s in range(seq, seq + k)]
            seq += retrying(args, r.push_burst_wait, batch)
        else:
            m = build(p, seq, msg_len(seq, room, msg))
            v = retrying(args, r.reserve_wait, len(m)) if msg else retrying(args, r.reserve_wait)
            v[:len(m)] = m
            if not msg:
                v[len(m):] = bytes(len(v) - len(m))
            r.commit()
            seq += 1
    r.close()


def consume(args):
    r = shmring.Ring.open(args.name, shmring.CONSUMER, kind=args.kind)
    t = Tally(args)
    total = args.count * args.nprod
    if args.resume:
        # one of a series of consumers: it goes on from the ring's
        # position, up to seq `count`
        t.next[0] = r.position
        total = args.count - r.position
    log = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if args.log else None
    print("started", flush=True)
    rnd = 0
    stop = False
    while not stop and (args.until_stop or t.count + t.bad < total):
        rnd += 1
        mode = 2 if log is not None else rnd % 3
        if mode == 0:
            stop = t.take(retrying(args, r.pop_wait))
        elif mode == 1 and not args.until_stop:
            for m in retrying(args, r.pop_burst_wait, min(16, total - t.count - t.bad)):
                stop = t.take(m) or stop
        else:
            v = retrying(args, r.peek_wait)
            stop = t.take(v)
            if log is not None:
                os.write(log, v[8:16])
            del v
            r.release()
    if log is not None:
        os.close(log)
    t.report()
    r.close()
    if t.bad or (not args.until_stop and t.count != total):
        sys.exit(1)


def setproduce(args):
    msg = args.kind in (shmring.MSG_SPSC, shmring.MSG_MPSC)
    r = shmring.Ring.create(args.ring, args.kind, 8192 if msg else 256, 512 if msg else 64)
    room = MSG_PAYLOAD_MAX if msg else r.slot_size - HDR.size
    with r, r.join_set(args.name, tag=args.producer):
        for seq in range(args.count):
            retrying(args, r.push_wait, build(args.producer, seq, msg_len(seq, room, msg)))


def setconsume(args):
    t = Tally(args)
    t.msg = False  # members of either kind: slot messages carry padding
    total = args.count * args.nprod
    with shmring.RingSet(args.name) as s:
        print("ready", flush=True)
        idle = time.monotonic()
        while t.count + t.bad < total:
            msgs = s.poll_wait(64, timeout=1.0)
            if not msgs:
                if time.monotonic() - idle > STALL:
                    fatal(f"set: no progress for {STALL} s")
                continue
            idle = time.monotonic()
            for m in msgs:
                before = t.bad
                t.take(m.data)
                if t.bad == before and m.tag != HDR.unpack_from(m.data)[1]:
                    t.bad += 1  # the member's tag is its producer
    t.report()
    if t.bad or t.count != total:
        sys.exit(1)


def wait(args):
    """Block in one wait forever (a ring nobody feeds, or a full one)."""
    if args.op == "set":
        s = shmring.RingSet()
        print("waiting", flush=True)
        s.wait()
        return
    if args.op == "push":
        r = shmring.Ring.open(args.name, shmring.PRODUCER, kind=args.kind)
        r.set_wait_policy(args.policy)
        while r.push(b"x"):
            pass
        print("waiting", flush=True)
        r.push_wait(b"x")
        return
    r = shmring.Ring.open(args.name, shmring.CONSUMER, kind=args.kind)
    r.set_wait_policy(args.policy)
    print("waiting", flush=True)
    r.pop_wait()


def main():
    ap = argparse.ArgumentParser(description="tests/python peer")
    ap.add_argument("cmd", choices=["produce", "consume", "setproduce", "setconsume", "wait"])
    ap.add_argument("name")
    ap.add_argument("ring", nargs="?")
    ap.add_argument("--kind", choices=sorted(KINDS), default="spsc")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--producer", type=int, default=0)
    ap.add_argument("--nprod", type=int, default=1)
    ap.add_argument("--until-stop", action="store_true")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--retry-epipe", action="store_true")
    ap.add_argument("--log")
    ap.add_argument("--policy", default="spin_sleep")
    ap.add_argument("--op", default="pop")
    args = ap.parse_args()
    args.kind = KINDS[args.kind]
    {"produce": produce, "consume": consume, "setproduce": setproduce,
     "setconsume": setconsume, "wait": wait}[args.cmd](args)


if __name__ == "__main__":
    main()
