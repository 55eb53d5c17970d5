/* SPDX-License-Identifier: MIT */
/*
 * Stream -> ring. A durable pull consumer fetches batches; the bridge
 * pushes each message into the ring as its only producer, then records
 * the message's stream sequence in the sidecar (last_seq), then acks it.
 *
 * Exactly once into the ring: before each push the bridge writes an
 * intent {ring producer position before the push, stream sequence}. On
 * restart, the producer position the ring attach finds (it follows
 * records published by a producer that died before storing its head)
 * tells whether that push was committed: moved past the intent's
 * position, it was (last_seq becomes the intent's sequence); not moved,
 * it was not. Messages with a sequence at or below last_seq are acked and
 * skipped whenever they come (redeliveries).
 *
 * Order: the consumer is (re)positioned at last_seq + 1 on start unless
 * it is exactly where the ring is (nothing delivered and not acked), and
 * every delivery's consumer sequence must follow the previous one: a gap
 * means a delivery never reached the bridge (a fetch that timed out, a
 * lost connection), which the server would redeliver later, after newer
 * messages. The bridge then repositions the consumer at last_seq + 1
 * rather than push anything out of order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmring/wait.h>

#include "bridge_int.h"

struct fs {
	struct shmring_bridge *b;
	struct shmring r;
	natsSubscription *sub; /* our inbox: deliveries of the pull requests */
	natsInbox *inbox;
	natsSubscription **old; /* unsubscribed, destroyed once the connection is closed */
	size_t n_old;
	int ready;             /* the consumer is set up */
	char next_subj[256];   /* $JS.API.CONSUMER.MSG.NEXT.<stream>.<durable> */
	uint64_t last_seq;
	uint64_t next_dseq;   /* consumer sequence the next delivery must have */
	uint64_t committed;
	uint64_t avg_len;     /* running estimate of message size (room checks) */
	unsigned char *slot;  /* SPSC: one slot, zero-padded */
};

/*
 * Stop the inbox subscription (deliveries for a consumer being
 * repositioned: what still arrives for it is dropped). libnats 3.4 hands
 * a message to a subscription it looked up without holding a reference,
 * so one destroyed while messages arrive could be used after it is
 * freed: an unsubscribed one is kept until the connection is closed.
 */
static int fs_unsubscribe(struct fs *f)
{
	natsSubscription **n;

	if (!f->sub)
		return 0;
	natsSubscription_Unsubscribe(f->sub);
	n = realloc(f->old, (f->n_old + 1) * sizeof(*n));
	if (!n)
		return br_fail(-ENOMEM, "out of memory");
	f->old = n;
	f->old[f->n_old++] = f->sub;
	f->sub = NULL;
	natsInbox_Destroy(f->inbox);
	f->inbox = NULL;
	return 0;
}

/* After the connection is closed. */
static void fs_sub_destroy(struct fs *f)
{
	fs_unsubscribe(f);
	for (size_t i = 0; i < f->n_old; i++)
		natsSubscription_Destroy(f->old[i]);
	free(f->old);
	f->old = NULL;
	f->n_old = 0;
}

/*
 * Make sure the durable consumer delivers from last_seq + 1 on, and
 * subscribe to it. `reset`: recreate it whatever its state. Returns 0,
 * -EAGAIN (JetStream did not answer: try again) or -errno (fatal).
 */
static int fs_consumer(struct fs *f, int reset)
{
	struct shmring_bridge *b = f->b;
	const struct shmring_bridge_config *c = &b->cfg;
	jsConsumerInfo *ci = NULL;
	jsConsumerConfig cc;
	jsErrCode jerr = 0;
	natsStatus s;
	int reuse = 0;

	f->ready = 0;
	if (fs_unsubscribe(f) < 0)
		return -ENOMEM;
	{
		/* A stream that ends before what the ring holds was deleted
		 * and made again: its sequences start over, and every new
		 * message would look like one the ring has. */
		jsStreamInfo *si = NULL;

		s = js_GetStreamInfo(&si, b->js, c->stream, NULL, &jerr);
		if (s == NATS_OK) {
			uint64_t last = si->State.LastSeq;

			jsStreamInfo_Destroy(si);
			if (last < f->last_seq)
				return br_fail_state(b, -ESTALE,
						     "stream %s ends at sequence %" PRIu64 ", before the last one ring %s "
						     "holds (%" PRIu64 "): the stream was made again; to take it from its "
						     "start, remove the bridge state /dev/shm%s%s",
						     c->stream, last, c->ring, f->last_seq, c->ring, SHMRING_BRIDGE_SUFFIX);
		} else if (jerr == JSStreamNotFoundErr) {
			return br_fail_state(b, -ENOENT, "stream %s does not exist on %s", c->stream, c->servers);
		} else {
			return -EAGAIN;
		}
		jerr = 0;
	}
	s = js_GetConsumerInfo(&ci, b->js, c->stream, c->durable, NULL, &jerr);
	if (s == NATS_OK) {
		const char *filter = ci->Config && ci->Config->FilterSubject ? ci->Config->FilterSubject : "";

		reuse = !reset && ci->NumAckPending == 0 && ci->Delivered.Stream == f->last_seq &&
			!strcmp(filter, c->subject) && ci->Config && ci->Config->AckPolicy == js_AckExplicit;
		if (reuse)
			f->next_dseq = ci->Delivered.Consumer + 1;
		jsConsumerInfo_Destroy(ci);
		ci = NULL;
		if (!reuse) {
			jerr = 0;
			s = js_DeleteConsumer(b->js, c->stream, c->durable, NULL, &jerr);
			if (s != NATS_OK && s != NATS_NOT_FOUND && jerr != JSConsumerNotFoundErr)
				return -EAGAIN;
		}
	} else if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
		/* create it below */
	} else if (jerr == JSStreamNotFoundErr) {
		return br_fail_state(b, -ENOENT, "stream %s does not exist on %s (create it, or set create_stream = yes)",
				     c->stream, c->servers);
	} else if (s == NATS_NOT_PERMITTED) {
		return br_fail_state(b, -EACCES, "consumer %s on stream %s: not permitted", c->durable, c->stream);
	} else {
		return -EAGAIN;
	}
	if (!reuse) {
		jsConsumerConfig_Init(&cc);
		cc.Durable = c->durable;
		cc.AckPolicy = js_AckExplicit;
		cc.AckWait = (int64_t)c->ack_wait_ms * 1000000;
		cc.MaxDeliver = -1;
		cc.MaxAckPending = (int64_t)c->batch * 4 > 1024 ? (int64_t)c->batch * 4 : 1024;
		cc.FilterSubject = c->subject[0] ? c->subject : NULL;
		if (f->last_seq) {
			cc.DeliverPolicy = js_DeliverByStartSequence;
			cc.OptStartSeq = f->last_seq + 1;
		} else {
			cc.DeliverPolicy = js_DeliverAll;
		}
		jerr = 0;
		s = js_AddConsumer(&ci, b->js, c->stream, &cc, NULL, &jerr);
		if (s != NATS_OK) {
			if (jerr == JSStreamNotFoundErr)
				return br_fail_state(b, -ENOENT, "stream %s does not exist on %s", c->stream, c->servers);
			if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED ||
			    s == NATS_CONNECTION_CLOSED || s == NATS_IO_ERROR || jerr == 0)
				return -EAGAIN;
			return br_fail_state(b, br_nats_err(s, jerr, "create consumer"), "consumer %s: %s",
					     c->durable, shmring_bridge_errdetail());
		}
		jsConsumerInfo_Destroy(ci);
		f->next_dseq = 1;
		if (b->sh)
			atomic_fetch_add(&b->sh->consumer_resets, 1);
	}
	/* The pull requests are our own (natsSubscription_Fetch of libnats
	 * 3.4 overruns its array when deliveries of an expired request are
	 * still queued): the inbox takes every delivery, late ones included,
	 * in the order the server sent them. */
	snprintf(f->next_subj, sizeof(f->next_subj), "$JS.API.CONSUMER.MSG.NEXT.%s.%s", c->stream, c->durable);
	s = natsInbox_Create(&f->inbox);
	if (s == NATS_OK)
		s = natsConnection_SubscribeSync(&f->sub, b->nc, f->inbox);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(f->sub, -1, -1);
	if (s != NATS_OK) {
		fs_unsubscribe(f);
		if (s == NATS_CONNECTION_DISCONNECTED || s == NATS_CONNECTION_CLOSED || s == NATS_IO_ERROR)
			return -EAGAIN;
		return br_fail_state(b, br_nats_err(s, 0, "subscribe"), "subscribe: %s", shmring_bridge_errdetail());
	}
	f->ready = 1;
	return 0;
}

/* Retry fs_consumer while JetStream does not answer. */
static int fs_consumer_retry(struct fs *f, int reset)
{
	uint32_t wait = 100;
	int ret;

	while (!atomic_load(&f->b->stop)) {
		ret = fs_consumer(f, reset);
		if (ret != -EAGAIN) {
			if (ret == 0)
				br_set_status(f->b, SHMRING_BRIDGE_ST_RUNNING);
			return ret;
		}
		br_set_status(f->b, SHMRING_BRIDGE_ST_CONNECTING);
		for (uint32_t t = 0; t < wait && !atomic_load(&f->b->stop); t += 50)
			br_sleep_ms(50);
		wait = wait * 2 > f->b->cfg.retry_max_ms ? f->b->cfg.retry_max_ms : wait * 2;
	}
	return 0;
}

/* Messages the ring has room for now (an estimate for message rings). */
static uint64_t fs_room(struct fs *f)
{
	struct shmring *r = &f->r;

	if (r->type == SHMRING_SPSC)
		return r->capacity - shmring_spsc_count(r);
	return (r->capacity - shmring_msg_used(r)) / (shmring_msg__rec_size(f->avg_len) + 8);
}

/*
 * Push one message, waiting for room. Returns 1 (committed), 0 (stopped
 * while waiting: nothing pushed) or -EMSGSIZE (too large for the ring).
 */
static int fs_push(struct fs *f, const char *data, uint32_t len, uint64_t seq)
{
	struct shmring_bridge *b = f->b;
	struct shmring_bridge_shared *sh = b->sh;
	struct shmring *r = &f->r;
	uint32_t max = r->type == SHMRING_SPSC ? r->slot_size : shmring_msg_max(r);

	if (len > max) {
		atomic_fetch_add(&sh->refused, 1);
		return br_fail_state(b, -EMSGSIZE,
				     "stream %s sequence %" PRIu64 ": %u bytes, larger than ring %s takes (%u); "
				     "not acknowledged, it stays in the stream", b->cfg.stream, seq, len, b->cfg.ring, max);
	}
	/* The intent: this sequence goes in at the producer's position now. */
	atomic_store(&sh->intent_pos, r->pos);
	atomic_store_explicit(&sh->intent_seq, seq, memory_order_release);
	for (;;) {
		struct timespec dl;
		int ret;

		if (atomic_load(&b->stop))
			return 0;
		shmring_deadline_after(&dl, 100000000ull);
		if (r->type == SHMRING_SPSC) {
			memcpy(f->slot, data, len);
			memset(f->slot + len, 0, r->slot_size - len);
			ret = shmring_spsc_push_wait(r, f->slot, &dl);
		} else {
			ret = shmring_msg_push_wait(r, data, len, &dl);
		}
		if (ret == 0)
			break;
		if (ret == -EPIPE)
			br_sleep_ms(100); /* no consumer, ring full: wait for one */
		else if (ret != -ETIMEDOUT && ret != -EAGAIN && ret != -EINTR)
			return br_fail_state(b, ret, "ring %s: push: %s", b->cfg.ring, shmring_strerror(ret));
	}
	/* A consumer asleep on the ring wakes now (no system call when
	 * none sleeps). */
	if (r->type == SHMRING_SPSC)
		shmring_spsc_wake(r);
	else
		shmring_msg_wake(r);
	/* Committed: record it, then drop the intent. */
	atomic_store_explicit(&sh->last_seq, seq, memory_order_release);
	atomic_store(&sh->intent_seq, 0);
	f->last_seq = seq;
	f->committed++;
	atomic_store(&sh->committed, f->committed);
	f->avg_len = (f->avg_len * 7 + len) / 8;
	return 1;
}

/* After a restart: was the push named by the intent committed? */
static void fs_recover_intent(struct fs *f)
{
	struct shmring_bridge_shared *sh = f->b->sh;
	uint64_t iseq = atomic_load(&sh->intent_seq);
	uint64_t last = atomic_load(&sh->last_seq);

	if (iseq && iseq > last) {
		if (f->r.pos != atomic_load(&sh->intent_pos)) {
			br_log("ring %s holds stream sequence %" PRIu64 " (pushed before a restart)", f->b->cfg.ring,
			       iseq);
			atomic_store(&sh->last_seq, iseq);
			atomic_fetch_add(&sh->committed, 1);
		}
	}
	atomic_store(&sh->intent_seq, 0);
	f->last_seq = atomic_load(&sh->last_seq);
	f->committed = atomic_load(&sh->committed);
}

int shmring_bridge_from_stream_run(struct shmring_bridge *b)
{
	struct fs *f;
	natsStatus s;
	jsOptions jo;
	uint64_t prog_ns = 0, prog_n = 0;
	uint32_t fail_wait = 100;
	int ret;

	if (b->cfg.direction != SHMRING_BRIDGE_FROM_STREAM)
		return br_fail(-EINVAL, "not a from-stream bridge");
	f = calloc(1, sizeof(*f));
	if (!f)
		return br_fail(-ENOMEM, "out of memory");
	f->b = b;
	f->avg_len = 64;
	ret = br_ring_open(b, &f->r, SHMRING_PRODUCER);
	if (ret < 0)
		goto out_free;
	if (f->r.type != SHMRING_SPSC && f->r.type != SHMRING_MSG_SPSC) {
		ret = br_fail(-ENOTSUP, "ring %s: a stream is bridged into SPSC or MSG_SPSC rings only "
			      "(the bridge must be the ring's only producer to know what it holds)", b->cfg.ring);
		goto out_ring;
	}
	if (f->r.type == SHMRING_SPSC) {
		f->slot = malloc(f->r.slot_size);
		if (!f->slot) {
			ret = br_fail(-ENOMEM, "out of memory");
			goto out_ring;
		}
	}
	ret = br_sidecar_open(b, &f->r, SHMRING_BRIDGE_FROM_STREAM);
	if (ret < 0)
		goto out_ring;
	/* The stream position belongs to the stream, not to the ring's
	 * identity: a ring created again goes on from the same sequence. */
	atomic_store(&b->sh->ring_create_ns, f->r.hdr->create_time_ns);
	atomic_store(&b->sh->ring_creator, f->r.hdr->creator_pid);
	fs_recover_intent(f);
	ret = br_connect(b);
	if (ret < 0 || atomic_load(&b->stop))
		goto out_ring;
	jsOptions_Init(&jo);
	jo.Wait = b->cfg.ack_wait_ms;
	s = natsConnection_JetStream(&b->js, b->nc, &jo);
	if (s != NATS_OK) {
		ret = br_nats_err(s, 0, "JetStream context");
		goto out_ring;
	}
	ret = br_stream_check(b);
	if (ret < 0 || atomic_load(&b->stop))
		goto out_ring;
	ret = fs_consumer_retry(f, 0);
	if (ret < 0 || atomic_load(&b->stop))
		goto out_ring;
	br_set_status(b, SHMRING_BRIDGE_ST_RUNNING);

	while (!atomic_load(&b->stop)) {
		uint64_t room = fs_room(f);
		int n = (int)(room < b->cfg.batch ? room : b->cfg.batch);
		int reset = 0, got = 0, done = 0;
		uint64_t deadline;
		char req[96];

		br_progress(b, &prog_ns, &prog_n, f->committed);
		if (n <= 0) {
			/* Ring full: ask for nothing until the consumer makes room. */
			br_sleep_ms(1);
			continue;
		}
		if (atomic_exchange(&b->reconnected, 0))
			reset = 1; /* deliveries may have been lost with the connection */
		if (reset || !f->ready) {
			ret = fs_consumer_retry(f, reset);
			if (ret < 0)
				break;
			continue;
		}
		/* One pull request: up to n messages, waiting at most 500 ms. */
		snprintf(req, sizeof(req), "{\"batch\":%d,\"expires\":%lld}", n, 490000000LL);
		s = natsConnection_PublishRequestString(b->nc, f->next_subj, f->inbox, req);
		if (s != NATS_OK) {
			br_set_status(b, SHMRING_BRIDGE_ST_CONNECTING);
			for (uint32_t t = 0; t < fail_wait && !atomic_load(&b->stop); t += 50)
				br_sleep_ms(50);
			fail_wait = fail_wait * 2 > b->cfg.retry_max_ms ? b->cfg.retry_max_ms : fail_wait * 2;
			continue;
		}
		deadline = br_now_ns() + 600000000ull;
		while (got < n && !done && !reset && !atomic_load(&b->stop)) {
			natsMsg *m = NULL;
			jsMsgMetaData *md = NULL;
			const char *reply, *st = NULL;
			uint64_t sseq, dseq, now = br_now_ns();

			if (now >= deadline)
				break;
			s = natsSubscription_NextMsg(&m, f->sub, (int64_t)((deadline - now) / 1000000u) + 1);
			if (s == NATS_TIMEOUT)
				break;
			if (s != NATS_OK) {
				/* The subscription or the connection went away. */
				reset = 1;
				break;
			}
			reply = natsMsg_GetReply(m);
			if (!reply || strncmp(reply, "$JS.ACK.", 8) != 0) {
				/* A status: 404/408 end the request, 100 is a
				 * heartbeat, 409 (consumer deleted, too many
				 * requests ...) and 503 (no JetStream) start over. */
				if (natsMsgHeader_Get(m, "Status", &st) != NATS_OK)
					st = "";
				if (!strncmp(st, "404", 3) || !strncmp(st, "408", 3)) {
					done = 1;
				} else if (strncmp(st, "100", 3) != 0) {
					const char *desc = NULL;

					natsMsgHeader_Get(m, "Description", &desc);
					br_log("consumer %s: status %s %s; setting it up again", b->cfg.durable, st,
					       desc ? desc : "");
					br_set_status(b, SHMRING_BRIDGE_ST_CONNECTING);
					for (uint32_t t = 0; t < fail_wait && !atomic_load(&b->stop); t += 50)
						br_sleep_ms(50);
					fail_wait = fail_wait * 2 > b->cfg.retry_max_ms ? b->cfg.retry_max_ms
											 : fail_wait * 2;
					reset = 1;
				}
				natsMsg_Destroy(m);
				continue;
			}
			got++;
			if (natsMsg_GetMetaData(&md, m) != NATS_OK) {
				natsMsg_Destroy(m);
				reset = 1;
				break;
			}
			sseq = md->Sequence.Stream;
			dseq = md->Sequence.Consumer;
			atomic_store(&b->sh->lag, md->NumPending);
			jsMsgMetaData_Destroy(md);
			if (sseq <= f->last_seq) {
				/* The ring holds it already: a redelivery. */
				natsConnection_PublishString(b->nc, reply, "+ACK");
				atomic_fetch_add(&b->sh->skipped, 1);
				if (dseq >= f->next_dseq)
					f->next_dseq = dseq + 1;
				natsMsg_Destroy(m);
				continue;
			}
			if (dseq != f->next_dseq) {
				/* A delivery went missing: it would come back
				 * after this one. Start again at last_seq + 1. */
				br_log("consumer %s: delivery %" PRIu64 " where %" PRIu64 " was due (stream sequence %"
				       PRIu64 "); repositioning at %" PRIu64, b->cfg.durable, dseq, f->next_dseq, sseq,
				       f->last_seq + 1);
				natsMsg_Destroy(m);
				reset = 1;
				break;
			}
			atomic_store(&b->sh->pending, (uint64_t)(n - got + 1));
			ret = fs_push(f, natsMsg_GetData(m), (uint32_t)natsMsg_GetDataLength(m), sseq);
			if (ret <= 0) {
				natsMsg_Destroy(m);
				if (ret < 0)
					goto out_loop;
				break; /* stopping */
			}
			f->next_dseq++;
			/* After the commit: the server may forget it now. */
			natsConnection_PublishString(b->nc, reply, "+ACK");
			natsMsg_Destroy(m);
			fail_wait = 100;
			br_set_status(b, SHMRING_BRIDGE_ST_RUNNING);
		}
		atomic_store(&b->sh->pending, 0);
		if (got == 0 && done)
			atomic_store(&b->sh->lag, 0);
		if (reset) {
			ret = fs_consumer_retry(f, 1);
			if (ret < 0)
				break;
		}
		ret = 0;
	}
	ret = ret > 0 ? 0 : ret;
out_loop:
	if (b->tty)
		fprintf(stdout, "\n");
out_ring:
	if (ret < 0 && b->sh && atomic_load(&b->sh->status) != SHMRING_BRIDGE_ST_FAILED)
		br_fail_state(b, ret, "%s", shmring_bridge_errdetail());
	br_disconnect(b);
	fs_sub_destroy(f);
	br_sidecar_close(b);
	shmring_close(&f->r);
out_free:
	free(f->slot);
	free(f);
	return ret;
}
