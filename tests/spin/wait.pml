/* SPDX-License-Identifier: MIT */
/*
 * The sleep/wake protocol of src/futex.c and include/shmring/wait.h under
 * a store-buffer (TSO) memory model: the one reordering the protocol's
 * barriers exist for is a store held in a CPU's buffer past a later load
 * (StoreLoad). NP producers and NC consumers (1 or 2 each; check.sh runs
 * 2P1C and 1P2C, see there) on one ring.
 *
 * Ring: `msgs` = published messages not yet claimed by a consumer, `room`
 * = free slots not yet claimed by a producer. A side claims with a CAS (an
 * RMW: it drains the claimer's store buffer) and the other side's count
 * grows by a plain release store (the slot's sequence word, or the head /
 * tail): that store sits in the writer's buffer (`pend`) until a flush,
 * which may happen at any time, or a barrier forces it.
 *
 * Sleeper (park() in src/futex.c) on block `b` (futex word = epoch E):
 *   loop { S1 v = ++E (seq_cst RMW); S2 b.waiters++ (RMW, first arm
 *   only); S3 fence, and membarrier (all buffers drain) if b.light;
 *   S4 if cond: leave; deadline passed: leave (-ETIMEDOUT; the caller
 *   retries its operation); S5 FUTEX_WAIT(E, v): returns when woken, at
 *   once if E != v (EAGAIN), or early (EINTR, a liveness slice, a
 *   spurious return) }, and every return goes back to S1 (re-arm and
 *   re-check); leave: b.waiters-- (RMW).
 * Waker (shmring_wake + shmring__wake_slow), after its publishing store W1:
 *   first wake only: setup: choose light (membarrier registered) or not;
 *   light: b.light = 1 (seq_cst store + fence);
 *   W2 StoreLoad: a seq_cst fence (drain own buffer), or, when light,
 *   only a compiler barrier; W3 if b.waiters: if E == last (the epoch is
 *   still the one this waker's own last wake set: nobody armed since),
 *   skip; else W4 last = ++E (RMW), FUTEX_WAKE(all).
 * Each waker picks light or fence independently, so rings with mixed
 * handles (SHMRING_WAIT_F_FENCE, or no membarrier) are covered; each
 * keeps its own `last`, as each handle does.
 *
 * Early returns: each process may take up to EARLY of them in a run
 * (default 1), each either a deadline exit from park() or an early futex
 * return (EINTR, slice, spurious), at any point where the real code can.
 * Unbounded, they would only add runs that loop.
 *
 * Bound: each process arms (S1) at most ARMS times (default 3) in the
 * runs followed; a run where one needs more is cut (`cut`: every process
 * may then stop; such runs are not judged). Two sleepers can keep moving
 * E under each other (one's S1 between the other's S1 and S5 makes that
 * FUTEX_WAIT return EAGAIN, and its re-arm does the same back): that is
 * a livelock only under a schedule that alternates exactly forever, and
 * it is what makes the unbounded state space infinite.
 *
 * Each producer sends PER messages; each consumer takes a ticket per
 * message (a consumer without a ticket leaves), so every waiting consumer
 * is owed a message and every waiting producer a slot: a process asleep
 * at the end is a lost wakeup, which spin reports as an invalid end state
 * (safety run), and `done` must eventually reach NP + NC unless the run
 * was cut (ltl, run with -a).
 *
 * Mutants (check.sh expects spin to find an error in each): NO_W2 drops
 * the waker's barrier (the liburing / kernel bug), LATE_S1 arms the epoch
 * after the re-check instead of before it, NO_S4 sleeps without
 * re-checking, NO_S1_BUMP has the sleeper only read E instead of bumping
 * it: the waker's epoch-skip rule then skips a wake a sleeper needs.
 */

#ifndef CAP
#define CAP 1
#endif
#ifndef NP
#define NP 2 /* producers: 1 or 2 */
#endif
#ifndef NC
#define NC 2 /* consumers: 1 or 2 */
#endif
#ifndef PER
#define PER 1
#endif
#ifndef EARLY
#define EARLY 1 /* early returns per process: deadline exits, EINTR / spurious */
#endif
#ifndef ARMS
#define ARMS 3  /* arms (S1) per process the search follows; longer runs are cut */
#endif
#define TOTAL (NP * PER)

byte msgs = 0;
byte room = CAP;
byte pend[4];  /* buffered increments: producers' of msgs, consumers' of room */
byte tickets = 0;
byte received = 0;
byte done = 0;
bool finished = false; /* set once every process has left */
bool cut = false;      /* some process needed more than ARMS arms: run not followed */

typedef waitblk {
	byte futex;
	byte waiters;
	bit light;
	bit asleep[4]
};
waitblk cw; /* consumers sleep here while empty */
waitblk pw; /* producers sleep here while full */

/* Apply a process's buffered stores to memory (a barrier, or an RMW). */
inline drain(id) {
	if
	:: id < 2 -> msgs = msgs + pend[id]
	:: else -> room = room + pend[id]
	fi;
	pend[id] = 0
}

inline drain_all() {
	msgs = msgs + pend[0] + pend[1];
	room = room + pend[2] + pend[3];
	pend[0] = 0; pend[1] = 0; pend[2] = 0; pend[3] = 0
}

/* The CPU flushes its store buffer on its own, at any time. */
proctype flusher(byte id)
{
end:
	do
	:: atomic {
		pend[id] > 0 ->
		if
		:: id < 2 -> msgs++
		:: else -> room++
		fi;
		pend[id]--
	   }
	od
}

/* park(): S1..S5 of src/futex.c, looping until cond holds at a re-check
 * (S4), or until the deadline (a bounded, nondeterministic early exit: the
 * caller then retries its operation and may park again). */
inline park(b, id, cond) {
	armed = 0;
	do
	:: true ->
		if
		:: arms < ARMS -> arms++
		:: else -> cut = true; goto end_cut  /* bound of the search, not a verdict */
		fi;
#if !defined(LATE_S1) && !defined(NO_S1_BUMP)
		atomic { drain(id); b.futex++; v = b.futex };  /* S1: v = ++E, seq_cst RMW */
#endif
#ifdef NO_S1_BUMP
		v = b.futex;                               /* mutant: S1 only reads E */
#endif
		if                                         /* S2, first arm only (RMW) */
		:: !armed -> atomic { drain(id); b.waiters++ }; armed = 1
		:: else -> skip
		fi;
		if                                         /* S3: fence (S1 drained); membarrier if light */
		:: b.light -> atomic { drain_all() }
		:: else -> skip
		fi;
#ifndef NO_S4
		if                                         /* S4 */
		:: cond -> break
		:: else -> skip
		fi;
#endif
#ifdef LATE_S1
		atomic { drain(id); b.futex++; v = b.futex };  /* mutant: arms after the re-check */
#endif
		if                                         /* the deadline passed: -ETIMEDOUT */
		:: early < EARLY -> early++; break
		:: true -> skip
		fi;
		atomic {                                   /* S5: FUTEX_WAIT(E, v) */
			if
			:: b.futex == v -> b.asleep[id] = 1
			:: else -> skip                        /* EAGAIN: E moved */
			fi
		};
		if
		:: b.asleep[id] == 0 -> skip               /* woken, or EAGAIN */
		:: atomic { b.asleep[id] == 1 && early < EARLY -> early++; b.asleep[id] = 0 }
			                                   /* EINTR, slice timeout, spurious */
		:: cut -> goto end_cut                     /* a run the search stopped following */
		fi
#ifdef NO_S4
		; if
		:: cond -> break
		:: else -> skip
		fi
#endif
	od;
	atomic { drain(id); b.waiters-- }          /* leave (release RMW) */
}

/* shmring_wake(): W2 barrier, W3 waiters and the epoch, W4 bump + wake. */
inline wake(b, id) {
	if
	:: !setup ->
		atomic {
			setup = 1;
			if
			:: light = 1; b.light = 1; drain(id)
			:: light = 0
			fi
		}
	:: else -> skip
	fi;
#ifndef NO_W2
	if                                         /* W2 */
	:: light -> skip
	:: else -> atomic { drain(id) }
	fi;
#endif
	if                                         /* W3 */
	:: b.waiters > 0 ->
		if
		:: b.futex == last -> skip             /* nobody armed since our last wake */
		:: else ->
			atomic { drain(id); b.futex++; last = b.futex };  /* W4 */
			atomic {                           /* FUTEX_WAKE, all */
				b.asleep[0] = 0; b.asleep[1] = 0;
				b.asleep[2] = 0; b.asleep[3] = 0
			}
		fi
	:: else -> skip
	fi
}

proctype producer(byte id)
{
	byte sent = 0, v, last = 0, early = 0, arms = 0;
	bit setup = 0, light = 0, got, armed;

	do
	:: sent == PER -> break
	:: else ->
		atomic {                               /* claim a slot: CAS */
			drain(id);
			if
			:: room > 0 -> room--; got = 1
			:: else -> got = 0
			fi
		};
		if
		:: got ->
			atomic { pend[id]++; sent++ };     /* W1: publish (buffered) */
			wake(cw, id)
		:: else ->
			park(pw, id, room > 0)
		fi
	od;
	atomic { drain(id); done++ };
end_cut:
	skip
}

proctype consumer(byte id)
{
	byte v, last = 0, early = 0, arms = 0;
	bit setup = 0, light = 0, got, armed;

	do
	:: atomic { tickets == TOTAL -> break }
	:: atomic { tickets < TOTAL -> tickets++ };
		do
		:: atomic {                            /* claim a message: CAS */
			drain(id);
			if
			:: msgs > 0 -> msgs--; got = 1
			:: else -> got = 0
			fi
		   };
			if
			:: got ->
				atomic { received++; pend[id]++ }; /* free the slot (buffered) */
				wake(pw, id);
				break
			:: else ->
				park(cw, id, msgs > 0)
			fi
		od
	od;
	atomic { drain(id); done++ };
end_cut:
	skip
}

init {
	atomic {
		/* ids: producers 0, 1; consumers 2, 3 */
		run flusher(0); run producer(0);
#if NP > 1
		run flusher(1); run producer(1);
#endif
		run flusher(2); run consumer(2)
#if NC > 1
		; run flusher(3); run consumer(3)
#endif
	}
end_wait:
	done == NP + NC;
	finished = true;
	assert(received == TOTAL && msgs == 0 && room == CAP)
}

ltl all_done { <> (finished || cut) }
