/*
 * The MPMC claim mode handshake (include/shmring/mpmc.h, src/mpmc.c) on
 * a machine with store buffers (x86-TSO): every plain store goes into the
 * storing process's FIFO buffer and reaches memory at some later step; a
 * process's loads see its own buffered stores first; a locked instruction
 * (CAS) first waits for its own buffer to drain; membarrier(2) drains
 * every buffer (each CPU runs a full barrier at some point during the
 * call). This is the reordering that matters: a solo holder stores its
 * announcement, then loads the mode word, with nothing between the two.
 *
 * NP claimers of one side make OPS claims each. A claim: load the counter,
 * store the announcement (ann = 1), load the mode word; then
 *   - word names us (SOLO): store the counter (plain);
 *   - word 0: CAS the counter (retry on failure);
 *   - otherwise: clear the announcement and take the word back or help
 *     (GRANTING: wait for it to change; SOLO -> REVOKING -> barrier ->
 *     FENCED -> wait for the holder's announcement to go -> 0, or SOLO of
 *     the revoker: the hand-on). Every wait may also give up (-EAGAIN).
 * and a won claim stores ann = 2 (won), then ann = 0 (done). Between
 * claims a claimer may ask for the mode (GRANTS times): CAS 0 -> GRANTING,
 * barrier, wait for every other claimer's announcement to go (or give
 * up: back to 0), GRANTING -> SOLO.
 *
 * Checked: no position is claimed twice (assert at the moment a claim is
 * decided: the CAS, or the solo holder's store), and at the end the
 * counter equals the number of claims made. Claimer 0 starts as the
 * holder, as the first endpoint to attach alone does (START_SHARED: the
 * word starts at 0).
 *
 * Mutants (-D...), each must fail: NO_BARRIER (no membarrier when taking
 * back), NO_GRANT_BARRIER (none when granting), NO_LEAVE_WAIT (taking
 * back does not wait for the holder's claim), NO_GRANT_WAIT (granting
 * does not wait for the claimers), DIRECT (SOLO handed straight on).
 */
#ifndef NP
#define NP 2
#endif
#ifndef OPS
#define OPS 2
#endif
#ifndef GRANTS
#define GRANTS 1
#endif
#define BUF 4
#define NPOS (NP * OPS + 1)

/* mode word: 0 shared, else W(claimer + 1, state) */
#define GRANTING 0
#define SOLO 1
#define REVOKING 2
#define FENCED 3
#define W(i, st) (((i) + 1) * 4 + (st))
#define IDX(w) ((w) / 4 - 1)
#define ST(w) ((w) % 4)

#ifdef START_SHARED
byte mode = 0;
#else
byte mode = W(0, SOLO);
#endif
byte claim = 0;
byte ann[NP];   /* memory: 0 none, 1 announced, 2 won */
bit owned[NPOS];
byte claims = 0; /* claims made (ghost) */
byte finished = 0;

/* Store buffers: (variable, value); variable 0 the counter, 1 our ann. */
chan sb[NP] = [BUF] of { byte, byte };
byte fwd_claim[NP]; /* the last buffered counter value */
byte n_claim[NP];   /* buffered counter stores not yet in memory */

inline apply(i, v, x) {
	if
	:: v == 0 -> claim = x; n_claim[i]--
	:: else -> ann[i] = x
	fi
}

/* One buffered store reaches memory, any time. */
proctype flusher(byte i)
{
	byte v, x;
end:	do
	:: atomic { sb[i]?v, x -> apply(i, v, x) }
	od
}

inline st_claim(x) {
	atomic { sb[me]!0, x; fwd_claim[me] = x; n_claim[me]++ }
}

inline st_ann(x) {
	sb[me]!1, x
}

inline ld_claim(t) {
	atomic {
		if
		:: n_claim[me] > 0 -> t = fwd_claim[me]
		:: else -> t = claim
		fi
	}
}

/* membarrier(2): every buffer drained at once. */
inline barrier() {
	atomic {
		j = 0;
		do
		:: j < NP ->
			do
			:: nempty(sb[j]) -> sb[j]?v, x; apply(j, v, x)
			:: empty(sb[j]) -> break
			od;
			j++
		:: else -> break
		od
	}
}

/* A locked compare-and-swap of the mode word: our buffer drains first. */
inline cas_mode(expect, want, ok) {
	empty(sb[me]);
	atomic {
		if
		:: mode == expect -> mode = want; ok = 1
		:: else -> ok = 0
		fi
	}
}

inline decide(t) {
	assert(t < NPOS && !owned[t]);
	owned[t] = 1;
	claims++
}

proctype claimer(byte me)
{
	byte t, w, i, ops = 0, grants = 0, v, x, j;
	bit ok, won;

	do
	:: ops == OPS -> break
	:: ops < OPS ->
		/* before a claim: ask for the mode */
		if
		:: grants < GRANTS ->
			grants++;
			cas_mode(0, W(me, GRANTING), ok);
			if
			:: ok ->
#ifndef NO_GRANT_BARRIER
				barrier();
#endif
#ifndef NO_GRANT_WAIT
				j = 0;
				do
				:: j < NP && j != me ->
					if
					:: ann[j] != 1 -> j++
					:: true -> ok = 0; break /* gave up */
					fi
				:: j < NP && j == me -> j++
				:: else -> break
				od;
#endif
				if
				:: ok -> cas_mode(W(me, GRANTING), W(me, SOLO), ok)
				:: else -> cas_mode(W(me, GRANTING), 0, ok)
				fi
			:: else
			fi
		:: true
		fi
		/* one claim */
		won = 0;
		ld_claim(t);
		do
		:: won -> break
		:: else ->
			st_ann(1);
			w = mode;
			if
			:: w == W(me, SOLO) ->
				atomic { decide(t); st_claim(t + 1) };
				won = 1
			:: w == 0 ->
				empty(sb[me]);
				atomic {
					if
					:: claim == t -> claim = t + 1; decide(t); won = 1
					:: else -> t = claim
					fi
				}
			:: else ->
				st_ann(0);
				i = IDX(w);
				if
				:: ST(w) == GRANTING ->
					if
					:: mode != w
					:: true /* gave up: -EAGAIN, try again */
					fi
				:: ST(w) == SOLO || ST(w) == REVOKING || ST(w) == FENCED ->
					ok = 1;
					if
					:: ST(w) == SOLO ->
#ifdef DIRECT
						if
						:: cas_mode(w, W(me, SOLO), ok); ok = 0
						:: true
						fi;
#endif
						if
						:: ok -> cas_mode(w, W(i, REVOKING), ok); w = W(i, REVOKING)
						:: else
						fi
					:: else
					fi;
					if
					:: ok && ST(w) == REVOKING ->
#ifndef NO_BARRIER
						barrier();
#endif
						cas_mode(w, W(i, FENCED), ok);
						ok = ok || mode == W(i, FENCED);
						w = W(i, FENCED)
					:: else
					fi;
					if
					:: ok ->
#ifndef NO_LEAVE_WAIT
						if
						:: ann[i] != 1
						:: true -> ok = 0 /* gave up: -EAGAIN */
						fi;
#endif
						if
						:: ok && i != me -> cas_mode(w, W(me, SOLO), ok)
						:: ok -> cas_mode(w, 0, ok)
						:: else
						fi
					:: else
					fi
				fi;
				ld_claim(t)
			fi
		od;
		st_ann(2);
		st_ann(0);
		ops++;
	od;
	empty(sb[me]);
	finished++
}

init {
	byte k;

	atomic {
		k = 0;
		do
		:: k < NP -> run flusher(k); run claimer(k); k++
		:: else -> break
		od
	}
	finished == NP;
	assert(claim == claims);
}
