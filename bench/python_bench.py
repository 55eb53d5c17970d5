#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Messages per second between two Python processes: the shmring binding
next to multiprocessing.Queue and an os.pipe, in one run, with one
message count and one message size.

usage: PYTHONPATH=build/python python3 bench/python_bench.py [options]
  --count N     messages per run (default 1000000)
  --size B      bytes per message (default 64)
  --burst K     messages per burst call (default 32)
  --repeat R    runs of each subject, interleaved (default 3); the table
                shows the median and the range

Each run forks a producer and a consumer; both wait for a start signal,
the producer sends N copies of one B-byte message, the consumer takes
them one by one (or a burst at a time) as Python objects and counts
them; the rate is N over the time from the start signal to the
consumer's last message. The shmring subjects block in the binding's
waits (spin, then sleep), like the Queue and the pipe block in theirs.
"""

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time

import shmring

MP = mp.get_context("fork")


def _ring_name():
    return f"/pybench-{os.getpid()}"


# ---- subjects: (setup, producer, consumer, teardown) ----

class RingSubject:
    def __init__(self, kind, burst):
        self.kind = kind
        self.burst = burst
        self.name = None
        self.ring = None

    def label(self, k):
        kind = "SPSC" if self.kind == shmring.SPSC else "MSG_SPSC"
        return f"shmring {kind}, " + (f"burst {k}" if self.burst else "single")

    def setup(self, args):
        self.name = _ring_name()
        if self.kind == shmring.SPSC:
            self.ring = shmring.Ring.create(self.name, self.kind, 4096, args.size, shmring.NONE)
        else:
            self.ring = shmring.Ring.create(self.name, self.kind, 1 << 18, max(args.size, 64),
                                            shmring.NONE)

    def teardown(self):
        self.ring.close()
        shmring.unlink(self.name)

    def produce(self, args, msg):
        with shmring.Ring.open(self.name, shmring.PRODUCER) as r:
            n = args.count
            if self.burst:
                batch = [msg] * args.burst
                while n:
                    n -= r.push_burst_wait(batch if n >= len(batch) else batch[:n])
            else:
                push = r.push_wait
                for _ in range(n):
                    push(msg)

    def consume(self, args):
        with shmring.Ring.open(self.name, shmring.CONSUMER) as r:
            n = args.count
            if self.burst:
                k = args.burst
                while n:
                    n -= len(r.pop_burst_wait(k if n >= k else n))
            else:
                pop = r.pop_wait
                for _ in range(n):
                    pop()


class QueueSubject:
    def __init__(self, batched):
        self.batched = batched
        self.q = None

    def label(self, k):
        return "multiprocessing.Queue" + (f", lists of {k}" if self.batched else "")

    def setup(self, args):
        self.q = MP.Queue()  # unbounded: its fastest and most common form

    def teardown(self):
        self.q.close()
        self.q.join_thread()

    def produce(self, args, msg):
        n = args.count
        if self.batched:
            batch = [msg] * args.burst
            while n:
                b = batch if n >= len(batch) else batch[:n]
                self.q.put(b)
                n -= len(b)
        else:
            put = self.q.put
            for _ in range(n):
                put(msg)
        self.q.close()
        self.q.join_thread()

    def consume(self, args):
        n = args.count
        get = self.q.get
        if self.batched:
            while n:
                n -= len(get())
        else:
            for _ in range(n):
                get()


class PipeSubject:
    def __init__(self, batched):
        self.batched = batched
        self.fds = None

    def label(self, k):
        return "os.pipe" + (f", writes of {k}" if self.batched else "")

    def setup(self, args):
        self.fds = os.pipe()

    def teardown(self):
        for fd in self.fds:
            os.close(fd)

    def produce(self, args, msg):
        w = self.fds[1]
        n = args.count
        write = os.write
        if self.batched:
            block = msg * args.burst
            while n:
                k = min(n, args.burst)
                write(w, block if k == args.burst else msg * k)
                n -= k
        else:
            for _ in range(n):
                write(w, msg)

    def consume(self, args):
        # writes of at most PIPE_BUF bytes are atomic: reads of
        # `want` bytes return whole messages
        r = self.fds[0]
        read = os.read
        size = args.size
        left = args.count * size
        want = size * (args.burst if self.batched else 1)
        if self.batched:
            while left:
                data = read(r, want)
                left -= len(data)
                _ = [data[i:i + size] for i in range(0, len(data), size)]
        else:
            while left:
                left -= len(read(r, want))


# ---- one run ----

def _producer(subject, args, start):
    start.wait()
    subject.produce(args, b"m" * args.size)


def _consumer(subject, args, start, done):
    start.wait()
    subject.consume(args)
    done.send(time.perf_counter())


def run(subject, args):
    subject.setup(args)
    try:
        start = MP.Event()
        recv, send = MP.Pipe(duplex=False)
        procs = [MP.Process(target=_consumer, args=(subject, args, start, send)),
                 MP.Process(target=_producer, args=(subject, args, start))]
        for p in procs:
            p.start()
        time.sleep(0.2)  # both at the start line
        t0 = time.perf_counter()
        start.set()
        if not recv.poll(600):
            raise RuntimeError(f"{subject.label(args.burst)}: no result in 600 s")
        t1 = recv.recv()
        for p in procs:
            p.join(60)
            if p.exitcode != 0:
                raise RuntimeError(f"{subject.label(args.burst)}: a process exited {p.exitcode}")
        return args.count / (t1 - t0) / 1e6
    finally:
        subject.teardown()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--burst", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.size * args.burst > 4096:
        ap.error("size x burst must fit PIPE_BUF (4096 bytes)")

    subjects = [RingSubject(shmring.SPSC, False), RingSubject(shmring.SPSC, True),
                RingSubject(shmring.MSG_SPSC, False), RingSubject(shmring.MSG_SPSC, True),
                QueueSubject(False), QueueSubject(True), PipeSubject(False), PipeSubject(True)]
    rates = {id(s): [] for s in subjects}
    load0 = os.getloadavg()[0]
    for i in range(args.repeat):
        for s in subjects:
            r = run(s, args)
            rates[id(s)].append(r)
            print(f"  run {i + 1}/{args.repeat}  {s.label(args.burst):34} {r:8.3f} Mmsg/s",
                  file=sys.stderr, flush=True)
    load1 = os.getloadavg()[0]

    base = statistics.median(rates[id(subjects[4])])  # multiprocessing.Queue, single
    print(f"{args.count} messages of {args.size} B, producer and consumer in two processes, "
          f"median of {args.repeat} interleaved runs")
    print(f"{'subject':36} {'Mmsg/s':>8} {'min-max':>17} {'vs mp.Queue':>12}")
    for s in subjects:
        r = rates[id(s)]
        med = statistics.median(r)
        print(f"{s.label(args.burst):36} {med:8.3f} {min(r):8.3f}-{max(r):<8.3f} "
              f"{med / base:11.1f}x")
    print(f"python {platform.python_version()}, shmring {shmring.__version__}, "
          f"{os.cpu_count()} CPUs, load average {load0:.2f} at start, {load1:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
