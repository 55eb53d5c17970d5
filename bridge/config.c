/* SPDX-License-Identifier: MIT */
/* Bridge configuration: defaults, keys, the config file. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"

void shmring_bridge_config_init(struct shmring_bridge_config *c)
{
	memset(c, 0, sizeof(*c));
	c->batch = 256;
	c->max_pending = 4096;
	c->ack_wait_ms = 5000;
	c->order = SHMRING_BRIDGE_ORDER_CHAIN;
	c->replicas = 1;
	c->dup_window_ms = 120000;
	c->retry_max_ms = 5000;
	snprintf(c->servers, sizeof(c->servers), "nats://127.0.0.1:4222");
}

static int set_str(char *dst, size_t cap, const char *key, const char *v)
{
	size_t n = strlen(v);

	if (n >= cap)
		return br_fail(-ENAMETOOLONG, "%s: %zu bytes, at most %zu", key, n, cap - 1);
	memcpy(dst, v, n + 1);
	return 0;
}

static int set_u64(uint64_t *dst, const char *key, const char *v, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long x;
	uint64_t mul = 1;

	errno = 0;
	x = strtoull(v, &end, 0);
	if (end != v && (*end == 'k' || *end == 'K'))
		mul = 1024, end++;
	else if (end != v && (*end == 'm' || *end == 'M'))
		mul = 1024 * 1024, end++;
	if (errno || end == v || *end || *v == '-' || x > hi / mul || x * mul < lo)
		return br_fail(-EINVAL, "%s: '%s' is not a number from %llu to %llu", key, v,
			       (unsigned long long)lo, (unsigned long long)hi);
	*dst = x * mul;
	return 0;
}

static int set_u32(uint32_t *dst, const char *key, const char *v, uint32_t lo, uint32_t hi)
{
	uint64_t x;
	int ret = set_u64(&x, key, v, lo, hi);

	if (ret == 0)
		*dst = (uint32_t)x;
	return ret;
}

static int set_bool(uint32_t *dst, const char *key, const char *v)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on"))
		*dst = 1;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off"))
		*dst = 0;
	else
		return br_fail(-EINVAL, "%s: '%s' is not yes or no", key, v);
	return 0;
}

/* Keys compare with '-' and '_' alike. */
static int key_is(const char *key, const char *name)
{
	for (; *key && *name; key++, name++) {
		char a = *key == '-' ? '_' : *key;

		if (a != *name)
			return 0;
	}
	return *key == 0 && *name == 0;
}

int shmring_bridge_config_set(struct shmring_bridge_config *c, const char *key, const char *v)
{
	if (key_is(key, "direction")) {
		if (!strcmp(v, "to-stream") || !strcmp(v, "to_stream"))
			c->direction = SHMRING_BRIDGE_TO_STREAM;
		else if (!strcmp(v, "from-stream") || !strcmp(v, "from_stream"))
			c->direction = SHMRING_BRIDGE_FROM_STREAM;
		else
			return br_fail(-EINVAL, "direction: '%s' is not to-stream or from-stream", v);
		return 0;
	}
	if (key_is(key, "ring_type")) {
		if (!strcmp(v, "spsc"))
			c->ring_type = SHMRING_SPSC;
		else if (!strcmp(v, "mpmc"))
			c->ring_type = SHMRING_MPMC;
		else if (!strcmp(v, "msg_spsc") || !strcmp(v, "msg-spsc"))
			c->ring_type = SHMRING_MSG_SPSC;
		else if (!strcmp(v, "msg_mpsc") || !strcmp(v, "msg-mpsc"))
			c->ring_type = SHMRING_MSG_MPSC;
		else if (!strcmp(v, "any"))
			c->ring_type = 0;
		else
			return br_fail(-EINVAL, "ring_type: '%s' is not spsc, mpmc, msg_spsc or msg_mpsc", v);
		return 0;
	}
	if (key_is(key, "order")) {
		if (!strcmp(v, "chain"))
			c->order = SHMRING_BRIDGE_ORDER_CHAIN;
		else if (!strcmp(v, "none"))
			c->order = SHMRING_BRIDGE_ORDER_NONE;
		else
			return br_fail(-EINVAL, "order: '%s' is not chain or none", v);
		return 0;
	}
	if (key_is(key, "ring")) {
		if (v[0] != '/' || strlen(v) > SHMRING_NAME_MAX - strlen(SHMRING_BRIDGE_SUFFIX) ||
		    strchr(v + 1, '/') || strchr(v, ':'))
			return br_fail(-EINVAL, "ring: '%s' must be '/name' (no other '/' or ':', at most %zu bytes)",
				       v, (size_t)SHMRING_NAME_MAX - strlen(SHMRING_BRIDGE_SUFFIX));
		return set_str(c->ring, sizeof(c->ring), "ring", v);
	}
	if (key_is(key, "ring_capacity"))
		return set_u64(&c->ring_capacity, key, v, 0, 1ull << 40);
	if (key_is(key, "ring_slot"))
		return set_u32(&c->ring_slot, key, v, 0, SHMRING_SLOT_MAX);
	if (key_is(key, "servers") || key_is(key, "server"))
		return set_str(c->servers, sizeof(c->servers), key, v);
	if (key_is(key, "creds"))
		return set_str(c->creds, sizeof(c->creds), key, v);
	if (key_is(key, "user"))
		return set_str(c->user, sizeof(c->user), key, v);
	if (key_is(key, "password"))
		return set_str(c->password, sizeof(c->password), key, v);
	if (key_is(key, "token"))
		return set_str(c->token, sizeof(c->token), key, v);
	if (key_is(key, "tls"))
		return set_bool(&c->tls, key, v);
	if (key_is(key, "tls_insecure"))
		return set_bool(&c->tls_insecure, key, v);
	if (key_is(key, "tls_ca"))
		return set_str(c->tls_ca, sizeof(c->tls_ca), key, v);
	if (key_is(key, "tls_cert"))
		return set_str(c->tls_cert, sizeof(c->tls_cert), key, v);
	if (key_is(key, "tls_key"))
		return set_str(c->tls_key, sizeof(c->tls_key), key, v);
	if (key_is(key, "tls_hostname"))
		return set_str(c->tls_hostname, sizeof(c->tls_hostname), key, v);
	if (key_is(key, "stream"))
		return set_str(c->stream, sizeof(c->stream), key, v);
	if (key_is(key, "subject"))
		return set_str(c->subject, sizeof(c->subject), key, v);
	if (key_is(key, "durable"))
		return set_str(c->durable, sizeof(c->durable), key, v);
	if (key_is(key, "name"))
		return set_str(c->name, sizeof(c->name), key, v);
	if (key_is(key, "send_asap"))
		return set_bool(&c->send_asap, key, v);
	if (key_is(key, "create_stream"))
		return set_bool(&c->create_stream, key, v);
	if (key_is(key, "replicas"))
		return set_u32(&c->replicas, key, v, 1, 5);
	if (key_is(key, "dup_window_ms"))
		return set_u64(&c->dup_window_ms, key, v, 1, 1ull << 40);
	if (key_is(key, "batch"))
		return set_u32(&c->batch, key, v, 1, 1u << 16);
	if (key_is(key, "max_pending"))
		return set_u32(&c->max_pending, key, v, 1, 1u << 20);
	if (key_is(key, "ack_wait_ms"))
		return set_u32(&c->ack_wait_ms, key, v, 100, 3600000);
	if (key_is(key, "retry_max_ms"))
		return set_u32(&c->retry_max_ms, key, v, 10, 600000);
	return br_fail(-EINVAL, "unknown key '%s'", key);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int shmring_bridge_config_parse_file(struct shmring_bridge_config *c, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int ln = 0;

	if (!f)
		return br_fail(-errno, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *hash;
		int ret;

		ln++;
		if (!strchr(line, '\n') && !feof(f)) {
			fclose(f);
			return br_fail(-EINVAL, "%s:%d: line longer than %zu bytes", path, ln, sizeof(line) - 2);
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		s = trim(line);
		if (!*s)
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			fclose(f);
			return br_fail(-EINVAL, "%s:%d: expected 'key = value'", path, ln);
		}
		*eq = 0;
		ret = shmring_bridge_config_set(c, trim(s), trim(eq + 1));
		if (ret < 0) {
			char d[512];

			br_copy(d, sizeof(d), shmring_bridge_errdetail());
			fclose(f);
			return br_fail(ret, "%s:%d: %s", path, ln, d);
		}
	}
	fclose(f);
	return 0;
}

int shmring_bridge_config_check(const struct shmring_bridge_config *c)
{
	if (c->direction != SHMRING_BRIDGE_TO_STREAM && c->direction != SHMRING_BRIDGE_FROM_STREAM)
		return br_fail(-EINVAL, "direction is not set (to-stream or from-stream)");
	if (!c->ring[0])
		return br_fail(-EINVAL, "ring is not set");
	if (!c->stream[0])
		return br_fail(-EINVAL, "stream is not set");
	if (!c->servers[0])
		return br_fail(-EINVAL, "servers is not set");
	if (c->direction == SHMRING_BRIDGE_TO_STREAM && !c->subject[0])
		return br_fail(-EINVAL, "subject is not set (the subject to publish to)");
	if (c->direction == SHMRING_BRIDGE_FROM_STREAM && !c->durable[0])
		return br_fail(-EINVAL, "durable is not set (the durable consumer's name)");
	if (strchr(c->stream, '.') || strchr(c->stream, ' ') || strchr(c->stream, '*') || strchr(c->stream, '>'))
		return br_fail(-EINVAL, "stream '%s': no '.', ' ', '*' or '>' in a stream name", c->stream);
	if (strchr(c->durable, '.') || strchr(c->durable, ' ') || strchr(c->durable, '*') ||
	    strchr(c->durable, '>'))
		return br_fail(-EINVAL, "durable '%s': no '.', ' ', '*' or '>' in a consumer name", c->durable);
	if (c->direction == SHMRING_BRIDGE_TO_STREAM && (strchr(c->subject, '*') || strchr(c->subject, '>')))
		return br_fail(-EINVAL, "subject '%s': a subject to publish to has no wildcard", c->subject);
	if (c->ring_capacity && (c->ring_capacity & (c->ring_capacity - 1)))
		return br_fail(-EINVAL, "ring_capacity %llu is not a power of two",
			       (unsigned long long)c->ring_capacity);
	if ((c->tls_cert[0] != 0) != (c->tls_key[0] != 0))
		return br_fail(-EINVAL, "tls_cert and tls_key go together");
	return 0;
}
