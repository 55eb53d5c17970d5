/* SPDX-License-Identifier: MIT */
/*
 * Bridge common parts: errors, the sidecar object, the connection and the
 * stream check, the ring open, the progress line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bridge_int.h"

static _Thread_local char detail[512];

const char *shmring_bridge_errdetail(void)
{
	return detail;
}

int br_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return err;
}

int br_fail_state(struct shmring_bridge *b, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (b->sh) {
		br_copy(b->sh->error, sizeof(b->sh->error), detail);
		atomic_store(&b->sh->last_error, err);
		atomic_store(&b->sh->status, SHMRING_BRIDGE_ST_FAILED);
	}
	return err;
}

void br_log(const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "shmring-bridge: %s\n", buf);
}

uint64_t br_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void br_sleep_ms(uint32_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- sidecar ---- */

static void sidecar_name(char *out, size_t cap, const char *ring)
{
	size_t n = strnlen(ring, cap - sizeof(SHMRING_BRIDGE_SUFFIX));

	memcpy(out, ring, n);
	memcpy(out + n, SHMRING_BRIDGE_SUFFIX, sizeof(SHMRING_BRIDGE_SUFFIX));
}

static void sidecar_init(struct shmring_bridge_shared *s, uint32_t direction)
{
	memset((char *)s + sizeof(s->magic), 0, sizeof(*s) - sizeof(s->magic));
	s->version = SHMRING_BRIDGE_VERSION;
	s->size = SHMRING_BRIDGE_SIZE;
	atomic_store(&s->direction, direction);
	/* Release: a reader that sees the magic sees the fields above. */
	atomic_store_explicit((_Atomic uint64_t *)&s->magic, SHMRING_BRIDGE_MAGIC, memory_order_release);
}

int br_sidecar_open(struct shmring_bridge *b, const struct shmring *r, uint32_t direction)
{
	char name[SHMRING_BRIDGE_STR + 16];
	struct shmring_bridge_shared *s;
	struct stat st;
	int fd, created = 0;
	int32_t me = (int32_t)getpid(), old;

	sidecar_name(name, sizeof(name), b->cfg.ring);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		created = 1;
		/* The ring's permissions, whatever the umask. */
		if (fchmod(fd, r->hdr->mode ? r->hdr->mode : 0600) < 0 ||
		    ftruncate(fd, SHMRING_BRIDGE_SIZE) < 0) {
			int e = errno;

			close(fd);
			shm_unlink(name);
			return br_fail(-e, "sidecar %s: %s", name, strerror(e));
		}
	} else if (errno == EEXIST) {
		fd = shm_open(name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
		if (fd < 0)
			return br_fail(-errno, "sidecar %s: %s", name, strerror(errno));
	} else {
		return br_fail(-errno, "sidecar %s: %s", name, strerror(errno));
	}
	if (fstat(fd, &st) < 0 || st.st_size != SHMRING_BRIDGE_SIZE) {
		close(fd);
		return br_fail(-EPROTO, "sidecar %s: size %lld, expected %u (not a bridge object)", name,
			       (long long)st.st_size, SHMRING_BRIDGE_SIZE);
	}
	s = mmap(NULL, SHMRING_BRIDGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED) {
		int e = errno;

		close(fd);
		return br_fail(-e, "sidecar %s: mmap: %s", name, strerror(e));
	}
	if (created || s->magic == 0) {
		sidecar_init(s, direction);
	} else if (s->magic != SHMRING_BRIDGE_MAGIC || s->version != SHMRING_BRIDGE_VERSION) {
		munmap(s, SHMRING_BRIDGE_SIZE);
		close(fd);
		return br_fail(-EPROTO, "sidecar %s: not a bridge object of version %u", name,
			       SHMRING_BRIDGE_VERSION);
	}
	/* One bridge per ring: the owner recorded must be gone. */
	old = atomic_load(&s->owner_pid);
	if (old && old != me && shmring__pid_alive(old, atomic_load(&s->owner_start))) {
		munmap(s, SHMRING_BRIDGE_SIZE);
		close(fd);
		return br_fail(-EBUSY, "ring %s: bridge process %d runs on it", b->cfg.ring, old);
	}
	if (!atomic_compare_exchange_strong(&s->owner_pid, &old, me)) {
		munmap(s, SHMRING_BRIDGE_SIZE);
		close(fd);
		return br_fail(-EBUSY, "ring %s: another bridge took it just now", b->cfg.ring);
	}
	atomic_store(&s->owner_start, shmring__proc_start_time(me));
	if (atomic_load(&s->direction) != direction) {
		/* The ring was bridged the other way before: start afresh. */
		atomic_store(&s->owner_pid, 0);
		sidecar_init(s, direction);
		atomic_store(&s->owner_pid, me);
		atomic_store(&s->owner_start, shmring__proc_start_time(me));
	}
	if (direction == SHMRING_BRIDGE_FROM_STREAM && atomic_load(&s->last_seq) &&
	    strncmp(s->stream, b->cfg.stream, sizeof(s->stream)) != 0) {
		/* Its sequences are another stream's. */
		char was[sizeof(s->stream)];
		unsigned long long seq = (unsigned long long)atomic_load(&s->last_seq);

		br_copy(was, sizeof(was), s->stream);
		atomic_store(&s->owner_pid, 0);
		munmap(s, SHMRING_BRIDGE_SIZE);
		close(fd);
		return br_fail(-ESTALE, "ring %s holds stream %s up to sequence %llu, not stream %s: to bridge %s "
			       "into it, remove the bridge state /dev/shm%s%s", b->cfg.ring, was,
			       seq, b->cfg.stream, b->cfg.stream, b->cfg.ring, SHMRING_BRIDGE_SUFFIX);
	}
	atomic_store(&s->started_ns, (uint64_t)time(NULL) * 1000000000ull);
	atomic_store(&s->last_error, 0);
	s->error[0] = 0;
	br_copy(s->stream, sizeof(s->stream), b->cfg.stream);
	br_copy(s->subject, sizeof(s->subject), b->cfg.subject);
	br_copy(s->durable, sizeof(s->durable), b->cfg.durable);
	atomic_store(&s->pending, 0);
	b->sh = s;
	b->sh_fd = fd;
	return 0;
}

void br_sidecar_close(struct shmring_bridge *b)
{
	if (!b->sh)
		return;
	if (atomic_load(&b->sh->status) != SHMRING_BRIDGE_ST_FAILED)
		atomic_store(&b->sh->status, SHMRING_BRIDGE_ST_STOPPED);
	atomic_store(&b->sh->pending, 0);
	atomic_store(&b->sh->owner_pid, 0);
	munmap(b->sh, SHMRING_BRIDGE_SIZE);
	close(b->sh_fd);
	b->sh = NULL;
}

void br_set_status(struct shmring_bridge *b, uint32_t st)
{
	if (b->sh)
		atomic_store(&b->sh->status, st);
}

int shmring_bridge_state_read(const char *ring, struct shmring_bridge_shared *out)
{
	char name[SHMRING_BRIDGE_STR + 16];
	struct stat st;
	void *p;
	int fd;

	if (!ring || ring[0] != '/' || strlen(ring) > SHMRING_NAME_MAX)
		return br_fail(-EINVAL, "bad ring name");
	sidecar_name(name, sizeof(name), ring);
	fd = shm_open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return br_fail(-errno, "%s: %s", name, strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_size != SHMRING_BRIDGE_SIZE) {
		close(fd);
		return br_fail(-EPROTO, "%s: not a bridge object", name);
	}
	p = mmap(NULL, SHMRING_BRIDGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return br_fail(-errno, "%s: mmap: %s", name, strerror(errno));
	memcpy(out, p, sizeof(*out));
	munmap(p, SHMRING_BRIDGE_SIZE);
	if (out->magic != SHMRING_BRIDGE_MAGIC)
		return br_fail(-EPROTO, "%s: not a bridge object", name);
	return 0;
}

/* ---- connection ---- */

int br_nats_err(natsStatus s, jsErrCode jerr, const char *what)
{
	const char *last = nats_GetLastError(NULL);
	int err;

	switch (s) {
	case NATS_CONNECTION_AUTH_FAILED:
	case NATS_NOT_PERMITTED:
		err = -EACCES;
		break;
	case NATS_NOT_FOUND:
		err = -ENOENT;
		break;
	case NATS_TIMEOUT:
	case NATS_NO_RESPONDERS:
		err = -ETIMEDOUT;
		break;
	case NATS_NO_SERVER:
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_IO_ERROR:
		err = -ECONNREFUSED;
		break;
	case NATS_MAX_PAYLOAD:
		err = -EMSGSIZE;
		break;
	default:
		err = -EIO;
	}
	if (jerr == JSStreamNotFoundErr || jerr == JSConsumerNotFoundErr)
		err = -ENOENT;
	if (jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr)
		err = -ENOTSUP;
	return br_fail(err, "%s: %s%s%s (status %d, JetStream error %d)", what, natsStatus_GetText(s),
		       last && *last ? ": " : "", last ? last : "", (int)s, (int)jerr);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct shmring_bridge *b = closure;

	(void)nc;
	if (!atomic_load(&b->closing))
		br_log("disconnected from the server; reconnecting");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct shmring_bridge *b = closure;
	char url[256] = "";

	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	atomic_store(&b->reconnected, 1);
	if (b->sh)
		atomic_fetch_add(&b->sh->reconnects, 1);
	br_log("reconnected to %s", url);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	(void)nc;
	(void)sub;
	(void)closure;
	br_log("asynchronous error: %s", natsStatus_GetText(err));
}

static int make_options(struct shmring_bridge *b)
{
	const struct shmring_bridge_config *c = &b->cfg;
	char *copy = strdup(c->servers), *save = NULL, *tok;
	const char *urls[32];
	int n = 0, ret = 0;
	natsStatus s;

	if (!copy)
		return br_fail(-ENOMEM, "out of memory");
	for (tok = strtok_r(copy, ", ", &save); tok && n < 32; tok = strtok_r(NULL, ", ", &save))
		urls[n++] = tok;
	if (n == 0) {
		free(copy);
		return br_fail(-EINVAL, "servers: no URL in '%s'", c->servers);
	}
	s = natsOptions_Create(&b->opts);
	if (s == NATS_OK)
		s = natsOptions_SetServers(b->opts, urls, n);
	if (s == NATS_OK)
		s = natsOptions_SetName(b->opts, c->name[0] ? c->name : "shmring-bridge");
	/* Reconnect for ever: the bridge never gives up on a server that
	 * went away (nothing is lost while it waits). */
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(b->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(b->opts, 250);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(b->opts, 2000);
	/* A server that stops answering (stopped, cut off) is noticed in a
	 * few seconds rather than minutes. */
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(b->opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(b->opts, 2);
	if (s == NATS_OK && c->send_asap)
		s = natsOptions_SetSendAsap(b->opts, true);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(b->opts, on_disconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(b->opts, on_reconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(b->opts, on_error, b);
	if (s == NATS_OK && c->creds[0]) {
		if (access(c->creds, R_OK) < 0) {
			ret = br_fail(-errno, "creds %s: %s", c->creds, strerror(errno));
			goto out;
		}
		s = natsOptions_SetUserCredentialsFromFiles(b->opts, c->creds, NULL);
	}
	if (s == NATS_OK && c->user[0])
		s = natsOptions_SetUserInfo(b->opts, c->user, c->password);
	if (s == NATS_OK && c->token[0])
		s = natsOptions_SetToken(b->opts, c->token);
	if (s == NATS_OK && (c->tls || c->tls_ca[0] || c->tls_cert[0]))
		s = natsOptions_SetSecure(b->opts, true);
	if (s == NATS_OK && c->tls_ca[0])
		s = natsOptions_LoadCATrustedCertificates(b->opts, c->tls_ca);
	if (s == NATS_OK && c->tls_cert[0])
		s = natsOptions_LoadCertificatesChain(b->opts, c->tls_cert, c->tls_key);
	if (s == NATS_OK && c->tls_hostname[0])
		s = natsOptions_SetExpectedHostname(b->opts, c->tls_hostname);
	if (s == NATS_OK && c->tls_insecure)
		s = natsOptions_SkipServerVerification(b->opts, true);
	if (s != NATS_OK)
		ret = br_nats_err(s, 0, "connection options");
out:
	free(copy);
	return ret;
}

int br_connect(struct shmring_bridge *b)
{
	uint32_t wait = 100;
	int warned = 0;
	uint64_t said = 0;
	natsStatus s;
	int ret;

	if (!b->opts) {
		ret = make_options(b);
		if (ret < 0)
			return ret;
	}
	br_set_status(b, SHMRING_BRIDGE_ST_CONNECTING);
	while (!atomic_load(&b->stop)) {
		s = natsConnection_Connect(&b->nc, b->opts);
		if (s == NATS_OK) {
			atomic_store(&b->closing, 0);
			break;
		}
		ret = br_nats_err(s, 0, "connect");
		if (s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED)
			return br_fail_state(b, -EACCES, "authorization refused by %s (check creds, user, password or token): %s",
					     b->cfg.servers, nats_GetLastError(NULL));
		if (s != NATS_NO_SERVER && s != NATS_TIMEOUT && s != NATS_IO_ERROR &&
		    s != NATS_CONNECTION_CLOSED && s != NATS_STALE_CONNECTION)
			return br_fail_state(b, ret, "cannot connect to %s: %s", b->cfg.servers,
					     shmring_bridge_errdetail());
		/* Said once, then every 30 s while it lasts. */
		if (!warned || br_now_ns() - said > 30000000000ull) {
			br_log("cannot reach %s (%s); retrying every %u ms at most", b->cfg.servers,
			       natsStatus_GetText(s), b->cfg.retry_max_ms);
			said = br_now_ns();
		}
		warned = 1;
		for (uint32_t t = 0; t < wait && !atomic_load(&b->stop); t += 50)
			br_sleep_ms(50);
		wait = wait * 2 > b->cfg.retry_max_ms ? b->cfg.retry_max_ms : wait * 2;
	}
	if (atomic_load(&b->stop))
		return 0;
	if (warned)
		br_log("connected to %s", b->cfg.servers);
	b->max_payload = natsConnection_GetMaxPayload(b->nc);
	return 0;
}

void br_disconnect(struct shmring_bridge *b)
{
	if (b->js)
		jsCtx_Destroy(b->js);
	b->js = NULL;
	if (b->nc) {
		atomic_store(&b->closing, 1);
		natsConnection_Close(b->nc);
		natsConnection_Destroy(b->nc);
	}
	b->nc = NULL;
}

int br_stream_check(struct shmring_bridge *b)
{
	const struct shmring_bridge_config *c = &b->cfg;
	uint32_t wait = 100;
	int warned = 0, overlap_seen = 0;

	while (!atomic_load(&b->stop)) {
		jsStreamInfo *si = NULL;
		jsErrCode jerr = 0;
		natsStatus s = js_GetStreamInfo(&si, b->js, c->stream, NULL, &jerr);

		if (s == NATS_OK) {
			if (c->direction == SHMRING_BRIDGE_TO_STREAM && si->Config && si->Config->Duplicates > 0 &&
			    (uint64_t)si->Config->Duplicates / 1000000u < 2ull * c->ack_wait_ms)
				br_log("stream %s: duplicate window %lld ms is shorter than twice ack_wait_ms (%u): "
				       "a message sent again after that is stored twice unless order = chain",
				       c->stream, (long long)(si->Config->Duplicates / 1000000), c->ack_wait_ms);
			jsStreamInfo_Destroy(si);
			if (warned)
				br_log("stream %s is available", c->stream);
			return 0;
		}
		if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
			jsStreamConfig sc;
			const char *subj[1] = { c->subject };

			if (!c->create_stream)
				return br_fail_state(b, -ENOENT,
						     "stream %s does not exist on %s (create it, or set create_stream = yes)",
						     c->stream, c->servers);
			jsStreamConfig_Init(&sc);
			sc.Name = c->stream;
			sc.Subjects = subj;
			sc.SubjectsLen = c->subject[0] ? 1 : 0;
			sc.Storage = js_FileStorage;
			sc.Replicas = c->replicas;
			sc.Duplicates = (int64_t)c->dup_window_ms * 1000000;
			jerr = 0;
			s = js_AddStream(&si, b->js, &sc, NULL, &jerr);
			if (s == NATS_OK) {
				jsStreamInfo_Destroy(si);
				br_log("created stream %s (subject %s, %u replicas)", c->stream, c->subject,
				       c->replicas);
				return 0;
			}
			if (jerr == JSStreamNameExistErr)
				continue; /* another bridge created it just now */
			/* Two bridges creating the same stream at once: the
			 * server may refuse the second for the subject the first
			 * just took. Look again once; if the stream is still not
			 * there, another stream holds the subject. */
			if (jerr == JSStreamSubjectOverlapErr && !overlap_seen) {
				overlap_seen = 1;
				continue;
			}
			/* A cluster still assembling (a node restarting, too few
			 * peers yet for the replicas asked) or JetStream briefly
			 * unavailable: wait, as below, rather than give up. */
			if (s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS && jerr != JSClusterNoPeersErr &&
			    jerr != JSClusterNotAvailErr)
				return br_fail_state(b, br_nats_err(s, jerr, "create stream"), "create stream %s: %s",
						     c->stream, shmring_bridge_errdetail());
		} else if (s == NATS_NOT_PERMITTED || s == NATS_CONNECTION_AUTH_FAILED) {
			return br_fail_state(b, -EACCES, "stream %s: not permitted", c->stream);
		} else if (jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr) {
			return br_fail_state(b, -ENOTSUP, "JetStream is not enabled on %s", c->servers);
		} else if (s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS && s != NATS_CONNECTION_DISCONNECTED &&
			   s != NATS_CONNECTION_CLOSED && s != NATS_IO_ERROR) {
			return br_fail_state(b, br_nats_err(s, jerr, "stream info"), "stream %s: %s", c->stream,
					     shmring_bridge_errdetail());
		}
		/* JetStream not answering yet (a cluster electing, a server
		 * starting): wait, as for a server that cannot be reached. */
		if (!warned)
			br_log("stream %s: JetStream does not answer (%s); retrying", c->stream,
			       natsStatus_GetText(s));
		warned = 1;
		br_set_status(b, SHMRING_BRIDGE_ST_CONNECTING);
		for (uint32_t t = 0; t < wait && !atomic_load(&b->stop); t += 50)
			br_sleep_ms(50);
		wait = wait * 2 > c->retry_max_ms ? c->retry_max_ms : wait * 2;
	}
	return 0;
}

/* ---- ring ---- */

int br_ring_open(struct shmring_bridge *b, struct shmring *r, uint32_t role)
{
	struct shmring_open_opts o = { .type = b->cfg.ring_type, .mode = 0777 };
	uint32_t wait = 50;
	int warned = 0, ret;

	while (!atomic_load(&b->stop)) {
		ret = shmring_open(r, b->cfg.ring, role, &o);
		if (ret == 0)
			return 0;
		if (ret == -ENOENT && role == SHMRING_PRODUCER && b->cfg.ring_capacity) {
			struct shmring_params p;
			uint32_t type = b->cfg.ring_type ? b->cfg.ring_type : SHMRING_MSG_SPSC;

			shmring_params_init(&p, type, b->cfg.ring_capacity, b->cfg.ring_slot);
			ret = shmring_create(r, b->cfg.ring, &p, role);
			if (ret == 0) {
				br_log("created ring %s", b->cfg.ring);
				return 0;
			}
			if (ret == -EEXIST)
				continue;
			return br_fail(ret, "create ring %s: %s", b->cfg.ring, shmring_errdetail());
		}
		if (ret != -ENOENT)
			return br_fail(ret, "ring %s: %s (%s)", b->cfg.ring, shmring_strerror(ret),
				       shmring_errdetail());
		if (!warned)
			br_log("ring %s does not exist yet; waiting for it", b->cfg.ring);
		warned = 1;
		br_sleep_ms(wait);
		wait = wait * 2 > 1000 ? 1000 : wait * 2;
	}
	return -EINTR;
}

void br_progress(struct shmring_bridge *b, uint64_t *last_ns, uint64_t *last_count, uint64_t count)
{
	uint64_t now = br_now_ns();
	double dt;

	if (!b->tty || now - *last_ns < 500000000ull)
		return;
	dt = (double)(now - *last_ns) / 1e9;
	if (*last_ns)
		fprintf(stdout, "\r%s %s: %10.0f msg/s  pending %6llu  lag %8llu  %s    ",
			b->cfg.direction == SHMRING_BRIDGE_TO_STREAM ? "ring->stream" : "stream->ring",
			b->cfg.ring, (double)(count - *last_count) / dt,
			(unsigned long long)(b->sh ? atomic_load(&b->sh->pending) : 0),
			(unsigned long long)(b->sh ? atomic_load(&b->sh->lag) : 0),
			b->sh && atomic_load(&b->sh->status) == SHMRING_BRIDGE_ST_CONNECTING ? "(connecting)" : "");
	fflush(stdout);
	*last_ns = now;
	*last_count = count;
}

/* ---- lifecycle ---- */

int shmring_bridge_create(struct shmring_bridge **bp, const struct shmring_bridge_config *c)
{
	struct shmring_bridge *b;
	int ret = shmring_bridge_config_check(c);

	if (ret < 0)
		return ret;
	b = calloc(1, sizeof(*b));
	if (!b)
		return br_fail(-ENOMEM, "out of memory");
	b->cfg = *c;
	b->sh_fd = -1;
	b->tty = isatty(STDOUT_FILENO);
	*bp = b;
	return 0;
}

void shmring_bridge_stop(struct shmring_bridge *b)
{
	atomic_store(&b->stop, 1);
}

int shmring_bridge_state(const struct shmring_bridge *b, struct shmring_bridge_shared *out)
{
	if (!b->sh) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	memcpy(out, b->sh, sizeof(*out));
	return 0;
}

int shmring_bridge_run(struct shmring_bridge *b)
{
	return b->cfg.direction == SHMRING_BRIDGE_TO_STREAM ? shmring_bridge_to_stream_run(b)
							    : shmring_bridge_from_stream_run(b);
}

void shmring_bridge_destroy(struct shmring_bridge *b)
{
	if (!b)
		return;
	br_disconnect(b);
	if (b->opts)
		natsOptions_Destroy(b->opts);
	br_sidecar_close(b);
	free(b);
}
