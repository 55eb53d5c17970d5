/* SPDX-License-Identifier: MIT */
/*
 * The sleep/wake protocol of src/futex.c and include/shmring/wait.h, with
 * 2 producers and 2 consumers on one ring, under a store-buffer (TSO)
 * memory model: the one reordering the protocol's barriers exist for is a
 * store held in a CPU's buffer past a later load (StoreLoad).
 *
 * Ring: `msgs` = published messages not yet claimed by a consumer, `room`
 * = free slots not yet claimed by a producer. A side claims with a CAS (an
 * RMW: it drains the claimer's store buffer) and the other side's count
 * grows by a plain release store (the slot's sequence word, or the head /
 * tail): that store sits in the writer's buffer (`pend`) until a flush,
 * which may happen at any time, or a barrier forces it.
 *
 * Sleeper (park() in src/futex.c), on block `b` with condition `cond`:
 *   S1 v = b.futex; S2 b.waiters++ (seq_cst RMW); S3 if b.light:
 *   membarrier (a full barrier on every CPU: all buffers drain);
 *   loop { S4 if cond: leave; S5 FUTEX_WAIT(b.futex, v); S1 v = b.futex }
 *   leave: b.waiters-- (RMW).
 * Waker (shmring_wake), after its publishing store W1:
 *   first wake only: setup: choose light (membarrier registered) or not;
 *   light: b.light = 1 (seq_cst store + fence);
 *   W2 StoreLoad: a seq_cst fence (drain own buffer), or, when light,
 *   only a compiler barrier; W3 if b.waiters: W4 b.futex++ (RMW),
 *   FUTEX_WAKE(all).
 * Each waker picks light or fence independently, so rings with mixed
 * handles (SHMRING_WAIT_F_FENCE, or no membarrier) are covered.
 *
 * Each producer sends PER messages; each consumer takes a ticket per
 * message (a consumer without a ticket leaves), so every waiting consumer
 * is owed a message and every waiting producer a slot: a process asleep
 * at the end is a lost wakeup, which spin reports as an invalid end state
 * (safety run), and `done` must eventually reach 4 (ltl, run with -a -f).
 *
 * Mutants (check.sh expects spin to find an error in each): NO_W2 drops
 * the waker's barrier (the liburing / kernel bug), LATE_S1 reads the
 * futex word after the re-check instead of before the waiter increment,
 * NO_S4 sleeps without re-checking.
 */

#ifndef CAP
#define CAP 1
#endif
#define NP 2
#define NC 2
#ifndef PER
#define PER 1
#endif
#define TOTAL (NP * PER)

byte msgs = 0;
byte room = CAP;
byte pend[NP + NC];  /* buffered increments: producers' of msgs, consumers' of room */
byte tickets = 0;
byte received = 0;
byte done = 0;
bool finished = false; /* set once every process has left */

typedef waitblk {
	byte futex;
	byte waiters;
	bit light;
	bit asleep[NP + NC]
};
waitblk cw; /* consumers sleep here while empty */
waitblk pw; /* producers sleep here while full */

/* Apply a process's buffered stores to memory (a barrier, or an RMW). */
inline drain(id) {
	if
	:: id < NP -> msgs = msgs + pend[id]
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
		:: id < NP -> msgs++
		:: else -> room++
		fi;
		pend[id]--
	   }
	od
}

/* park(): returns once cond held at a re-check. */
inline park(b, id, cond) {
#ifndef LATE_S1
	v = b.futex;                               /* S1 */
#endif
	atomic { drain(id); b.waiters++ };         /* S2 */
	if                                         /* S3 */
	:: b.light -> atomic { drain_all() }
	:: else -> skip
	fi;
	do
#ifndef NO_S4
	:: cond -> break                           /* S4 */
	:: else ->
#else
	:: true ->
#endif
#ifdef LATE_S1
		v = b.futex;
#endif
		atomic {                               /* S5: FUTEX_WAIT */
			if
			:: b.futex == v -> b.asleep[id] = 1
			:: else -> skip
			fi
		};
		b.asleep[id] == 0;
		v = b.futex
#ifdef NO_S4
		; if
		:: cond -> break
		:: else -> skip
		fi
#endif
	od;
	atomic { drain(id); b.waiters-- }
}

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
		atomic { drain(id); b.futex++ };       /* W4 */
		atomic {                               /* FUTEX_WAKE, all */
			b.asleep[0] = 0; b.asleep[1] = 0;
			b.asleep[2] = 0; b.asleep[3] = 0
		}
	:: else -> skip
	fi
}

proctype producer(byte id)
{
	byte sent = 0, v;
	bit setup = 0, light = 0, got;

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
	atomic { drain(id); done++ }
}

proctype consumer(byte id)
{
	byte v;
	bit setup = 0, light = 0, got;

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
	atomic { drain(id); done++ }
}

init {
	atomic {
		run flusher(0); run flusher(1); run flusher(2); run flusher(3);
		run producer(0); run producer(1);
		run consumer(2); run consumer(3)
	}
	done == NP + NC;
	finished = true;
	assert(received == TOTAL && msgs == 0 && room == CAP)
}

ltl all_done { <> finished }
