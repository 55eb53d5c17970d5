/* SPDX-License-Identifier: MIT */
/*
 * Ring -> stream. The bridge is the ring's consumer: it reads messages in
 * place (peek), publishes each asynchronously with its id, and releases
 * ring space in ring order as the acknowledgements come in. The window of
 * messages read and not yet released is the in-flight table `e`, ordered
 * by ring position; the acknowledgement handler (a libnats thread) marks
 * entries, the main thread does everything else.
 *
 * Failures (an error or timeout on a publish, a reconnect) start a resync:
 * the publishes still pending in libnats are taken back and every entry
 * not acknowledged is sent again, in order. What the stream already holds
 * comes back as a duplicate. With order = chain each publish names its
 * predecessor (Nats-Expected-Last-Msg-Id), so the stream refuses a message
 * whose predecessor it does not hold: ring order is kept even when a
 * message is lost in flight and a later one arrives. A refusal of the
 * first entry itself means the stream's idea of its last message differs
 * from ours; the bridge then reads the stream's last message (resolve).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmring/wait.h>

#include "bridge_int.h"

enum { E_UNSENT, E_SENT, E_ACKED, E_FAILED };

struct infl {
	uint64_t pos, end; /* ring position of the message, and after it */
	const void *data;
	uint32_t len;
	int state;         /* E_* (under ts.mu) */
	int jerr;          /* E_FAILED: the JetStream error code */
	uint64_t sent_ns;
};

struct ts {
	struct shmring_bridge *b;
	struct shmring r;
	uint32_t type;
	uint64_t spsc_peeked;          /* SPSC: slots peeked past r.pos */
	uint64_t mp_pos, mp_n, mp_used; /* MPMC: the claim held, and how much was handed out */
	char prefix[SHMRING_NAME_MAX + 64];
	size_t prefix_len;
	struct infl *e;
	uint64_t cap, head, tail;      /* window [head, tail), index % cap */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int need_resync;               /* under mu */
	int refused_pos_set;           /* under mu: the stream refused a message as too large */
	uint64_t refused_pos;
	char ack_err[256];             /* under mu: text of the first failure since the last resync */
	uint64_t last_pos;             /* last message acknowledged (released) */
	int has_last;
	uint64_t skip_upto;            /* messages at or before: the stream holds them */
	int has_skip;
	int unchain_next;              /* send the next one without Expected-Last-Msg-Id */
	uint64_t acked_total;
	uint32_t backoff_ms;
	int published;                 /* libnats made its table of pending publishes */
	int waiting;                   /* under mu: the main thread sleeps on cv */
	struct infl stash;             /* a message rd_ready took while waiting */
	int has_stash;
	unsigned char *salv;           /* MPMC: copies of a dead bridge's claim, being published */
	uint64_t salv_end;             /* ... the ring position after the last of them */
};

/* Take back what libnats waits for (their acknowledgements are dropped
 * when they come). libnats 3.4 makes the table at the first publish, and
 * its call does not check for none. */
static void take_back_pending(struct ts *t)
{
	natsMsgList pl = { 0 };

	if (t->published && js_PublishAsyncGetPendingList(&pl, t->b->js) == NATS_OK)
		natsMsgList_Destroy(&pl);
}

#define E(t, i) (&(t)->e[(i) % (t)->cap])

/* ---- the ring side ---- */

/* The next message not yet handed out: 1 (with *m filled), 0 none now, or -errno. */
static int rd_take(struct ts *t, struct infl *m)
{
	struct shmring *r = &t->r;

	if (t->type == SHMRING_SPSC) {
		uint64_t p;
		int64_t k = shmring_spsc_peek(r, t->spsc_peeked + 1, &p);

		if (k < 0)
			return (int)k;
		if ((uint64_t)k <= t->spsc_peeked)
			return 0;
		m->pos = p + t->spsc_peeked;
		m->end = m->pos + 1;
		m->data = shmring_slot(r, m->pos);
		m->len = r->slot_size;
		t->spsc_peeked++;
		return 1;
	}
	if (t->type == SHMRING_MPMC) {
		if (t->mp_used == t->mp_n) {
			uint64_t p;
			int64_t k;

			if (t->mp_n || t->salv)
				return 0; /* a claim is released only as a whole */
			k = shmring_mpmc_peek(r, t->cap < 1024 ? t->cap : 1024, &p);
			if (k <= 0)
				return k == -EBUSY ? 0 : (int)k;
			t->mp_pos = p;
			t->mp_n = (uint64_t)k;
			t->mp_used = 0;
		}
		m->pos = t->mp_pos + t->mp_used++;
		m->end = m->pos + 1;
		m->data = shmring_slot(r, m->pos);
		m->len = r->slot_size;
		return 1;
	}
	/* message rings */
	const void *buf;
	int n = shmring_msg_peek(r, &buf);

	if (n == -EAGAIN)
		return 0;
	if (n < 0)
		return n;
	m->end = shmring_msg__hs(r)->cur;
	m->pos = m->end - shmring_msg__rec_size((uint32_t)n);
	m->data = buf;
	m->len = (uint32_t)n;
	return 1;
}

static int rd_next(struct ts *t, struct infl *m)
{
	if (t->has_stash) {
		*m = t->stash;
		t->has_stash = 0;
		return 1;
	}
	return rd_take(t, m);
}

/* Ready predicate of the ring wait (wait.h): takes the next message into
 * the stash, so a message that ends the wait is not read twice. */
static int rd_ready(struct shmring *r, void *arg)
{
	struct ts *t = arg;

	(void)r;
	if (t->has_stash)
		return 1;
	int k = rd_take(t, &t->stash);

	if (k > 0)
		t->has_stash = 1;
	return k;
}

/* MPMC: record our endpoint entry in the sidecar (before any claim). */
static void ts_own_entry(struct ts *t)
{
	struct shmring_bridge_shared *sh = t->b->sh;
	const struct shmring_endpoint *base =
		(const struct shmring_endpoint *)(const void *)((const unsigned char *)t->r.map + t->r.hdr->ep_off);

	atomic_store(&sh->mp_pid, 0);
	atomic_store(&sh->mp_start, shmring__proc_start_time(getpid()));
	atomic_store(&sh->mp_ep, (uint32_t)(t->r.ep - base));
	atomic_store(&sh->mp_pid, getpid());
}

/* Release the ring up to position `end` (the end of an acknowledged message). */
static void rd_release(struct ts *t, uint64_t end)
{
	struct shmring *r = &t->r;

	if (t->type == SHMRING_SPSC) {
		uint64_t n = end - r->pos;

		shmring_spsc_release(r, n);
		t->spsc_peeked -= n;
		shmring_spsc_wake(r);
	} else if (t->type == SHMRING_MPMC) {
		if (t->salv && end >= t->salv_end) {
			/* Everything salvaged is in the stream: let the ring's
			 * recovery drop the dead bridge's claim, and name our
			 * own entry from now on. */
			free(t->salv);
			t->salv = NULL;
			shmring_recover(r);
			ts_own_entry(t);
		}
		if (t->mp_n && end == t->mp_pos + t->mp_n) {
			shmring_mpmc_release(r);
			t->mp_n = t->mp_used = 0;
			shmring_mpmc_wake(r);
		}
	} else {
		/* shmring_msg_release frees everything peeked: free the
		 * acknowledged prefix only, by releasing with the peek
		 * cursor set back to its end. */
		uint64_t cur = shmring_msg__hs(r)->cur;

		shmring_msg__hs(r)->cur = end;
		shmring_msg_release(r);
		shmring_msg__hs(r)->cur = cur;
		shmring_msg_wake(r);
	}
}

/* Ring positions read and not yet released, plus those not yet read. */
static uint64_t rd_lag(struct ts *t)
{
	if (t->type == SHMRING_SPSC)
		return shmring_spsc_count(&t->r);
	if (t->type == SHMRING_MPMC)
		return shmring_mpmc_count(&t->r) + t->mp_n;
	return shmring_msg_used(&t->r);
}

/* ---- ids ---- */

static int parse_pos(const struct ts *t, const char *id, uint64_t *pos)
{
	char *end;

	if (!id || strncmp(id, t->prefix, t->prefix_len) != 0)
		return 0;
	*pos = strtoull(id + t->prefix_len, &end, 10);
	return end != id + t->prefix_len && *end == 0;
}

/* Entry index of ring position `pos` in the window, or UINT64_MAX. Under mu. */
static uint64_t find_entry(const struct ts *t, uint64_t pos)
{
	uint64_t lo = t->head, hi = t->tail;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		uint64_t p = E(t, mid)->pos;

		if (p == pos)
			return mid;
		if (p < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return UINT64_MAX;
}

/* libnats' thread: a publish was acknowledged, or failed. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct ts *t = closure;
	const char *id = NULL;
	uint64_t pos, i;

	(void)js;
	if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && parse_pos(t, id, &pos)) {
		pthread_mutex_lock(&t->mu);
		i = find_entry(t, pos);
		if (i != UINT64_MAX) {
			struct infl *e = E(t, i);

			if (pa) {
				if (e->state != E_ACKED) {
					e->state = E_ACKED;
					if (t->b->sh) {
						if (pa->Duplicate)
							atomic_fetch_add(&t->b->sh->duplicates, 1);
						atomic_store(&t->b->sh->stream_seq, pa->Sequence);
					}
				}
			} else if (pae && e->state == E_SENT) {
				e->state = E_FAILED;
				e->jerr = pae->ErrCode;
				if (!t->need_resync)
					snprintf(t->ack_err, sizeof(t->ack_err), "%s%s%s",
						 natsStatus_GetText(pae->Err), pae->ErrText ? ": " : "",
						 pae->ErrText ? pae->ErrText : "");
				t->need_resync = 1;
				if (pae->ErrCode == JSStreamMessageExceedsMaximumErr && !t->refused_pos_set) {
					t->refused_pos_set = 1;
					t->refused_pos = pos;
				}
			}
			/* Wake the main thread only for what lets it go on:
			 * the oldest acknowledged, or a failure. */
			if (t->waiting && (i == t->head || t->need_resync))
				pthread_cond_signal(&t->cv);
		}
		pthread_mutex_unlock(&t->mu);
	}
	natsMsg_Destroy(msg);
}

/* ---- publishing ---- */

static size_t header_bytes(const struct ts *t, int chained)
{
	/* "NATS/1.0\r\n", each "Key: value\r\n", the closing "\r\n"; the
	 * position takes at most 20 digits. */
	size_t id = t->prefix_len + 20;

	return 10 + 13 + id + 2 + (chained ? 27 + id + 2 : 0) + 2;
}

static natsStatus publish(struct ts *t, const struct infl *e, int chained, uint64_t pred)
{
	char id[sizeof(t->prefix) + 24], prev[sizeof(t->prefix) + 24];
	natsMsg *m = NULL;
	jsPubOptions po;
	natsStatus s;

	s = natsMsg_Create(&m, t->b->cfg.subject, NULL, (const char *)e->data, (int)e->len);
	if (s != NATS_OK)
		return s;
	snprintf(id, sizeof(id), "%s%" PRIu64, t->prefix, e->pos);
	s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	if (s == NATS_OK && chained) {
		snprintf(prev, sizeof(prev), "%s%" PRIu64, t->prefix, pred);
		s = natsMsgHeader_Set(m, "Nats-Expected-Last-Msg-Id", prev);
	}
	/* No MaxWait: libnats would track a deadline per message (two
	 * allocations each); the main loop times out the oldest instead. */
	jsPubOptions_Init(&po);
	if (s == NATS_OK) {
		t->published = 1;
		s = js_PublishMsgAsync(t->b->js, &m, &po);
	}
	natsMsg_Destroy(m); /* NULL when the library took it */
	if (s == NATS_OK && t->b->sh)
		atomic_fetch_add(&t->b->sh->published, 1);
	return s;
}

/* The message before entry i in ring order: 1 with *pred, 0 none known. */
static int pred_of(const struct ts *t, uint64_t i, uint64_t *pred)
{
	if (i > t->head) {
		*pred = E(t, i - 1)->pos;
		return 1;
	}
	*pred = t->last_pos;
	return t->has_last;
}

/* Send entry i (its state is E_UNSENT). Returns 0, 1 (refused: too large)
 * or -1 (failed: a resync follows). */
static int send_entry(struct ts *t, uint64_t i)
{
	struct infl *e = E(t, i);
	uint64_t pred = 0;
	int chained = pred_of(t, i, &pred) && t->b->cfg.order == SHMRING_BRIDGE_ORDER_CHAIN &&
		      !t->unchain_next;
	natsStatus s;

	if ((int64_t)(e->len + header_bytes(t, chained)) > t->b->max_payload) {
		pthread_mutex_lock(&t->mu);
		t->refused_pos_set = 1;
		t->refused_pos = e->pos;
		pthread_mutex_unlock(&t->mu);
		return 1;
	}
	pthread_mutex_lock(&t->mu);
	e->state = E_SENT;
	e->sent_ns = br_now_ns();
	pthread_mutex_unlock(&t->mu);
	s = publish(t, e, chained, pred);
	if (s == NATS_OK) {
		t->unchain_next = 0;
		return 0;
	}
	pthread_mutex_lock(&t->mu);
	if (e->state == E_SENT)
		e->state = E_FAILED;
	if (s == NATS_MAX_PAYLOAD && !t->refused_pos_set) {
		t->refused_pos_set = 1;
		t->refused_pos = e->pos;
	}
	if (!t->need_resync)
		snprintf(t->ack_err, sizeof(t->ack_err), "publish: %s", natsStatus_GetText(s));
	t->need_resync = 1;
	pthread_mutex_unlock(&t->mu);
	return -1;
}

/*
 * Read the stream's last message and apply what it says. `refused`: the
 * first entry not acknowledged was refused for its expected last id.
 * Returns 0, or -EPROTO (the chain cannot go on), or -EAGAIN (JetStream
 * did not answer: try again later).
 */
static int resolve(struct ts *t, int refused)
{
	struct shmring_bridge *b = t->b;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsMsg *m = NULL;
	const char *id = NULL;
	uint64_t last, p, pred = 0, first;
	int has_pred;
	natsStatus s;

	s = js_GetStreamInfo(&si, b->js, b->cfg.stream, NULL, &jerr);
	if (s != NATS_OK) {
		if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
			return br_fail_state(b, -ENOENT, "stream %s no longer exists", b->cfg.stream);
		return -EAGAIN;
	}
	last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	pthread_mutex_lock(&t->mu);
	for (first = t->head; first < t->tail && E(t, first)->state == E_ACKED; first++)
		;
	has_pred = pred_of(t, first, &pred);
	pthread_mutex_unlock(&t->mu);
	if (last == 0) {
		/* Empty stream (new, or purged): nothing to chain to. */
		t->unchain_next = 1;
		return 0;
	}
	s = js_GetMsg(&m, b->js, b->cfg.stream, last, NULL, &jerr);
	if (s != NATS_OK) {
		if (s == NATS_NOT_FOUND) {
			t->unchain_next = 1;
			return 0;
		}
		return -EAGAIN;
	}
	if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) != NATS_OK)
		id = NULL;
	if (!parse_pos(t, id, &p)) {
		char copy[300];

		br_copy(copy, sizeof(copy), id ? id : "(none)");
		natsMsg_Destroy(m);
		if (!refused && !has_pred)
			return 0; /* the ring's first message: it starts the chain */
		return br_fail_state(b, -EPROTO,
				     "stream %s: its last message (sequence %" PRIu64 ", id %s) is not from ring %s: "
				     "another publisher writes into the stream, so ring order cannot be enforced "
				     "(give the ring a stream of its own, or set order = none)",
				     b->cfg.stream, last, copy, b->cfg.ring);
	}
	natsMsg_Destroy(m);
	if (!has_pred || p > pred) {
		/* The stream holds our messages up to p (published before a
		 * restart, their acknowledgements lost): they count as acked,
		 * and what the ring has not given out yet up to p is skipped. */
		pthread_mutex_lock(&t->mu);
		for (uint64_t i = t->head; i < t->tail; i++)
			if (E(t, i)->pos <= p && E(t, i)->state != E_ACKED) {
				E(t, i)->state = E_ACKED;
				if (b->sh)
					atomic_fetch_add(&b->sh->duplicates, 1);
			}
		pthread_mutex_unlock(&t->mu);
		t->skip_upto = p;
		t->has_skip = 1;
		if (refused && (!has_pred || p > pred))
			br_log("stream %s already holds ring %s up to position %" PRIu64 "; going on from there",
			       b->cfg.stream, b->cfg.ring, p);
		return 0;
	}
	if (refused) {
		if (p < pred)
			br_log("stream %s: its last message (position %" PRIu64 ") is older than the last one "
			       "acknowledged (%" PRIu64 "): messages were removed from the stream; the chain "
			       "starts again", b->cfg.stream, p, pred);
		/* p == pred: the stream holds our predecessor but did not
		 * know it as its last id (a restarted server): start over. */
		t->unchain_next = 1;
	}
	return 0;
}

/* Take back what libnats still waits for and send every entry not
 * acknowledged again, in order. Returns 0 or -errno (fatal). */
static int resync(struct ts *t)
{
	struct shmring_bridge *b = t->b;
	int refused = 0, ret;
	uint64_t i;
	char why[256];

	take_back_pending(t);
	pthread_mutex_lock(&t->mu);
	for (i = t->head; i < t->tail && E(t, i)->state == E_ACKED; i++)
		;
	if (i < t->tail && E(t, i)->state == E_FAILED && E(t, i)->jerr == JSStreamWrongLastMsgIDErr)
		refused = 1;
	for (uint64_t j = t->head; j < t->tail; j++)
		if (E(t, j)->state != E_ACKED)
			E(t, j)->state = E_UNSENT;
	t->need_resync = 0;
	br_copy(why, sizeof(why), t->ack_err[0] ? t->ack_err : "reconnected");
	t->ack_err[0] = 0;
	pthread_mutex_unlock(&t->mu);
	atomic_store(&b->reconnected, 0);
	if (b->sh)
		atomic_fetch_add(&b->sh->resyncs, 1);

	/* Back off while failures repeat without progress. */
	if (t->backoff_ms) {
		br_log("sending %" PRIu64 " messages again in %u ms (%s)", t->tail - t->head, t->backoff_ms, why);
		for (uint32_t w = 0; w < t->backoff_ms && !atomic_load(&b->stop); w += 50)
			br_sleep_ms(50);
	}
	t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : 100;
	if (t->backoff_ms > b->cfg.retry_max_ms)
		t->backoff_ms = b->cfg.retry_max_ms;
	while (natsConnection_Status(b->nc) != NATS_CONN_STATUS_CONNECTED && !atomic_load(&b->stop)) {
		br_set_status(b, SHMRING_BRIDGE_ST_CONNECTING);
		br_sleep_ms(50);
	}
	br_set_status(b, SHMRING_BRIDGE_ST_RUNNING);
	if (atomic_load(&b->stop))
		return 0;
	if (refused && b->cfg.order == SHMRING_BRIDGE_ORDER_CHAIN) {
		ret = resolve(t, 1);
		if (ret == -EAGAIN) {
			pthread_mutex_lock(&t->mu);
			t->need_resync = 1;
			pthread_mutex_unlock(&t->mu);
			return 0;
		}
		if (ret < 0)
			return ret;
	}
	for (i = t->head; i < t->tail; i++) {
		if (E(t, i)->state != E_UNSENT)
			continue;
		if (send_entry(t, i) != 0)
			break;
	}
	return 0;
}

/* ---- the run ---- */

/*
 * MPMC: a bridge killed while it held a claim left the claim's messages
 * in the ring, owned by its dead endpoint entry until some recovery drops
 * them (counting them lost). If the claim is still there, copy its
 * messages and put those not yet acknowledged first in the window; the
 * copies are valid if the claim still stands after they are taken
 * (producers overwrite a slot only once no claim covers it).
 */
static int ts_salvage(struct ts *t)
{
	struct shmring_bridge *b = t->b;
	struct shmring_bridge_shared *sh = b->sh;
	struct shmring *r = &t->r;
	uint32_t idx = atomic_load(&sh->mp_ep);
	int32_t pid = atomic_load(&sh->mp_pid);
	struct shmring_endpoint *ep;
	uint64_t c_pos, c_end, n, k = 0, skipped = 0;

	if (pid <= 0 || idx >= r->ep_count || shmring__pid_alive(pid, atomic_load(&sh->mp_start)))
		return 0;
	ep = (struct shmring_endpoint *)(void *)((unsigned char *)r->map + r->hdr->ep_off) + idx;
	/* Acquire: pairs with the holder's release stores of its claim
	 * (claim_end first: mpmc.h), and orders the slot reads below. */
	c_end = shmring_atomic_load(&ep->claim_end, SHMRING_ACQUIRE);
	c_pos = shmring_atomic_load(&ep->claim_pos, SHMRING_ACQUIRE);
	if (shmring_atomic_load(&ep->pid, SHMRING_RELAXED) != pid ||
	    SHMRING_EP_STATE(shmring_atomic_load(&ep->state, SHMRING_RELAXED)) != SHMRING_EP_ACTIVE ||
	    c_pos == SHMRING_NO_CLAIM || c_end == c_pos || c_end - c_pos > r->capacity)
		return 0; /* it held nothing (or recovery dropped it already) */
	n = c_end - c_pos;
	t->salv = malloc((size_t)n * r->slot_size);
	if (!t->salv)
		return br_fail_state(b, -ENOMEM, "out of memory");
	for (uint64_t p = c_pos; p < c_end; p++) {
		if (shmring_atomic_load(shmring__slot_seq(r, p), SHMRING_RELAXED) !=
		    SHMRING_MPMC_SEQ(p, SHMRING_MPMC_PUB))
			continue; /* passed over (cancelled or given up) */
		if (t->has_last && p <= t->last_pos) {
			skipped++; /* acknowledged before it died */
			continue;
		}
		memcpy(t->salv + k * r->slot_size, shmring_slot(r, p), r->slot_size);
		E(t, t->tail)->pos = p;
		E(t, t->tail)->end = p + 1;
		E(t, t->tail)->data = t->salv + k * r->slot_size;
		E(t, t->tail)->len = r->slot_size;
		E(t, t->tail)->state = E_UNSENT;
		t->tail++;
		k++;
	}
	/* The copies are good if the claim still stands after them. */
	shmring_atomic_fence(SHMRING_ACQUIRE);
	if (shmring_atomic_load(&ep->claim_pos, SHMRING_RELAXED) != c_pos ||
	    shmring_atomic_load(&ep->claim_end, SHMRING_RELAXED) != c_end) {
		t->head = t->tail = 0;
		free(t->salv);
		t->salv = NULL;
		atomic_fetch_add(&sh->lost, k);
		br_log("ring %s: %" PRIu64 " messages the previous bridge held were released by the ring's "
		       "recovery while this one took them: lost to the stream (counted in lost)", b->cfg.ring, k);
		return 0;
	}
	t->salv_end = c_end;
	atomic_fetch_add(&sh->salvaged, k);
	br_log("ring %s: publishing again %" PRIu64 " messages the previous bridge held when it died "
	       "(%" PRIu64 " of them acknowledged already)", b->cfg.ring, k, skipped);
	if (k == 0)
		rd_release(t, c_end);
	return 0;
}

static int ts_setup_ring(struct ts *t)
{
	struct shmring_bridge *b = t->b;
	struct shmring_bridge_shared *sh = b->sh;
	struct shmring *r = &t->r;
	const char *name = b->cfg.ring + 1;
	uint64_t create_ns = r->hdr->create_time_ns;
	int64_t creator = r->hdr->creator_pid;

	t->prefix_len = (size_t)snprintf(t->prefix, sizeof(t->prefix), "%s:%" PRIx64 ".%" PRId64 ":", name,
					 create_ns, creator);
	if (atomic_load(&sh->ring_create_ns) != create_ns || atomic_load(&sh->ring_creator) != creator) {
		/* A ring we never bridged (or the name was given to a new
		 * ring): its positions start here. */
		atomic_store(&sh->has_last, 0);
		atomic_store(&sh->acked_end, r->pos);
		atomic_store(&sh->ring_create_ns, create_ns);
		atomic_store(&sh->ring_creator, creator);
		return 0;
	}
	t->has_last = (int)atomic_load(&sh->has_last);
	t->last_pos = atomic_load(&sh->last_pos);
	if (t->type == SHMRING_MPMC)
		return ts_salvage(t);
	{
		/* Acknowledged before a crash but not yet released: release. */
		uint64_t end = atomic_load(&sh->acked_end);

		if (end != r->pos && end - r->pos <= r->capacity) {
			struct infl m;
			int k;

			while ((k = rd_next(t, &m)) > 0 && m.end < end)
				;
			if (k <= 0 || m.end != end)
				return br_fail_state(b, -EPROTO,
						     "ring %s: the bridge state says acknowledged up to %" PRIu64
						     ", which is no message boundary of the ring", b->cfg.ring, end);
			rd_release(t, end);
			br_log("released ring %s up to %" PRIu64 " (acknowledged before a restart)", b->cfg.ring, end);
		}
	}
	return 0;
}

int shmring_bridge_to_stream_run(struct shmring_bridge *b)
{
	struct ts *t;
	jsOptions jo;
	natsStatus s;
	uint64_t stop_at = 0, prog_ns = 0, prog_n = 0;
	uint32_t idle_us = 0, idle_rounds = 0;
	int ret;

	if (b->cfg.direction != SHMRING_BRIDGE_TO_STREAM)
		return br_fail(-EINVAL, "not a to-stream bridge");
	t = calloc(1, sizeof(*t));
	if (!t)
		return br_fail(-ENOMEM, "out of memory");
	t->b = b;
	t->cap = b->cfg.max_pending;
	t->e = calloc(t->cap, sizeof(*t->e));
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	if (!t->e) {
		ret = br_fail(-ENOMEM, "out of memory");
		goto out_free;
	}
	ret = br_ring_open(b, &t->r, SHMRING_CONSUMER);
	if (ret < 0)
		goto out_free;
	t->type = t->r.type;
	ret = br_sidecar_open(b, &t->r, SHMRING_BRIDGE_TO_STREAM);
	if (ret < 0)
		goto out_ring;
	ret = ts_setup_ring(t);
	if (ret < 0)
		goto out_ring;
	/* MPMC: while a dead bridge's claim is published again, the sidecar
	 * keeps naming it (a crash now leaves it to the next bridge). */
	if (t->type == SHMRING_MPMC && !t->salv)
		ts_own_entry(t);
	ret = br_connect(b);
	if (ret < 0 || atomic_load(&b->stop))
		goto out_ring;
	jsOptions_Init(&jo);
	jo.Wait = b->cfg.ack_wait_ms;
	/* Our own window is the bound; libnats' is larger so that it never
	 * stalls a publish. */
	jo.PublishAsync.MaxPending = (int64_t)b->cfg.max_pending * 2 + 16;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = t;
	s = natsConnection_JetStream(&b->js, b->nc, &jo);
	if (s != NATS_OK) {
		ret = br_nats_err(s, 0, "JetStream context");
		goto out_ring;
	}
	ret = br_stream_check(b);
	if (ret < 0 || atomic_load(&b->stop))
		goto out_ring;
	if (b->cfg.order == SHMRING_BRIDGE_ORDER_CHAIN) {
		do {
			ret = resolve(t, 0);
			if (ret == -EAGAIN)
				br_sleep_ms(200);
		} while (ret == -EAGAIN && !atomic_load(&b->stop));
		if (ret < 0)
			goto out_ring;
	}
	br_set_status(b, SHMRING_BRIDGE_ST_RUNNING);
	/* Entries already in the window (a dead bridge's claim) go out
	 * first, in order. */
	if (t->tail > t->head)
		t->need_resync = 1;

	for (;;) {
		int progressed = 0, resync_now, refused_now;
		uint64_t rel_end = 0, refused_pos = 0;

		pthread_mutex_lock(&t->mu);
		while (t->head < t->tail && E(t, t->head)->state == E_ACKED) {
			t->last_pos = E(t, t->head)->pos;
			t->has_last = 1;
			rel_end = E(t, t->head)->end;
			t->head++;
			t->acked_total++;
			progressed = 1;
		}
		if (t->head < t->tail && E(t, t->head)->state == E_SENT &&
		    br_now_ns() - E(t, t->head)->sent_ns > 1000000ull * b->cfg.ack_wait_ms) {
			/* The oldest has no answer within ack_wait: send it and
			 * everything after it again. */
			snprintf(t->ack_err, sizeof(t->ack_err), "no acknowledgement within %u ms",
				 b->cfg.ack_wait_ms);
			t->need_resync = 1;
		}
		resync_now = t->need_resync;
		refused_now = t->refused_pos_set;
		refused_pos = t->refused_pos;
		pthread_mutex_unlock(&t->mu);

		if (progressed) {
			/* The state first, then the ring: a crash in between
			 * finds these acknowledged and releases them on restart. */
			atomic_store(&b->sh->last_pos, t->last_pos);
			atomic_store(&b->sh->has_last, 1);
			atomic_store(&b->sh->acked, t->acked_total);
			atomic_store(&b->sh->acked_end, rel_end);
			rd_release(t, rel_end);
			t->backoff_ms = 0;
		}
		atomic_store(&b->sh->pending, t->tail - t->head);
		atomic_store(&b->sh->lag, rd_lag(t));
		br_progress(b, &prog_ns, &prog_n, t->acked_total);

		if (refused_now) {
			/* Everything before it is released once acknowledged
			 * (collected above); the message itself stays in the
			 * ring. */
			int before = t->head < t->tail && E(t, t->head)->pos == refused_pos;

			if (before || (stop_at && br_now_ns() > stop_at)) {
				struct infl *e = E(t, t->head);

				atomic_fetch_add(&b->sh->refused, 1);
				ret = br_fail_state(b, -EMSGSIZE,
						    "ring %s: the message at position %" PRIu64 " (%u bytes) is larger "
						    "than the stream takes (server max_payload %lld, or the stream's "
						    "max_msg_size); it stays in the ring, unpublished",
						    b->cfg.ring, refused_pos, before ? e->len : 0,
						    (long long)b->max_payload);
				break;
			}
			if (!stop_at)
				stop_at = br_now_ns() + 2000000ull * b->cfg.ack_wait_ms;
			resync_now = resync_now && !(t->head < t->tail && E(t, t->head)->pos == refused_pos);
		}
		if (atomic_load(&b->stop)) {
			if (!stop_at)
				stop_at = br_now_ns() + 1000000ull * b->cfg.ack_wait_ms;
			if (t->head == t->tail || br_now_ns() > stop_at) {
				ret = 0;
				break;
			}
		} else if (resync_now || atomic_load(&b->reconnected)) {
			ret = resync(t);
			if (ret < 0)
				break;
			continue;
		}
		/* New messages, while the window has room. */
		while (!atomic_load(&b->stop) && !refused_now && t->tail - t->head < t->cap) {
			struct infl m;
			int k = rd_next(t, &m);

			if (k < 0) {
				ret = br_fail_state(b, k, "ring %s: %s", b->cfg.ring, shmring_strerror(k));
				goto out_loop;
			}
			if (k == 0)
				break;
			m.state = E_UNSENT;
			m.jerr = 0;
			pthread_mutex_lock(&t->mu);
			if (t->has_skip && m.pos <= t->skip_upto)
				m.state = E_ACKED; /* the stream holds it already */
			*E(t, t->tail) = m;
			t->tail++;
			pthread_mutex_unlock(&t->mu);
			progressed = 1;
			if (m.state == E_ACKED)
				continue;
			if (send_entry(t, t->tail - 1) != 0)
				break;
		}
		if (progressed) {
			idle_us = 0;
			idle_rounds = 0;
			continue;
		}
		if (t->head == t->tail && !atomic_load(&b->stop) && !refused_now) {
			/* Nothing in flight: sleep on the ring until a
			 * producer publishes (or 50 ms pass). */
			struct timespec dl;
			int k;

			shmring_deadline_after(&dl, 50000000ull);
			k = shmring_wait_until(&t->r, SHMRING_CONSUMER, rd_ready, t, &dl);
			if (k < 0 && k != -ETIMEDOUT && k != -EPIPE && k != -EINTR && k != -EAGAIN) {
				ret = br_fail_state(b, k, "ring %s: %s", b->cfg.ring, shmring_strerror(k));
				break;
			}
			if (k == -EPIPE)
				br_sleep_ms(10); /* no producer now */
			continue;
		}
		/* Messages in flight: wait for an acknowledgement (the
		 * handler signals), or poll the ring, a little longer each
		 * time: up to 100 us, then (a server that stopped answering)
		 * up to 2 ms. */
		idle_us = idle_us ? (idle_us * 2 > 2000 ? 2000 : idle_us * 2) : 10;
		if (idle_us > 100 && ++idle_rounds < 64)
			idle_us = 100;
		{
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)idle_us * 1000;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_mutex_lock(&t->mu);
			if (!t->need_resync && !(t->head < t->tail && E(t, t->head)->state == E_ACKED)) {
				t->waiting = 1;
				pthread_cond_timedwait(&t->cv, &t->mu, &ts);
				t->waiting = 0;
			}
			pthread_mutex_unlock(&t->mu);
		}
	}
out_loop:
	/* Nothing more comes in: the handler must not run on t after this. */
	if (b->js)
		take_back_pending(t);
	br_disconnect(b);
	if (b->sh)
		atomic_store(&b->sh->pending, 0);
	if (b->tty)
		fprintf(stdout, "\n");
out_ring:
	if (ret < 0 && b->sh && atomic_load(&b->sh->status) != SHMRING_BRIDGE_ST_FAILED)
		br_fail_state(b, ret, "%s", shmring_bridge_errdetail());
	br_sidecar_close(b);
	shmring_close(&t->r);
out_free:
	br_disconnect(b);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t->salv);
	free(t->e);
	free(t);
	return ret;
}
