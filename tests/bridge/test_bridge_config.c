/* SPDX-License-Identifier: MIT */
/*
 * Bridge configuration and state calls without a server: each bad input
 * gets -errno and a detail that names it, and changes nothing.
 * A plain program: exit status 0 is a pass.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmring/bridge.h>

static int failed;

#define CHECK(cond, ...)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);      \
			fprintf(stderr, __VA_ARGS__);                             \
			fprintf(stderr, " (detail: %s)\n", shmring_bridge_errdetail()); \
			failed++;                                                 \
		}                                                                 \
	} while (0)

static void expect_set_err(const char *key, const char *value, int err, const char *word)
{
	struct shmring_bridge_config c, before;
	int ret;

	shmring_bridge_config_init(&c);
	before = c;
	ret = shmring_bridge_config_set(&c, key, value);
	CHECK(ret == err, "set %s = %s: %d, expected %d", key, value, ret, err);
	CHECK(strstr(shmring_bridge_errdetail(), word) != NULL, "set %s = %s: detail lacks '%s'", key, value,
	      word);
	CHECK(memcmp(&c, &before, sizeof(c)) == 0, "set %s = %s: changed the configuration", key, value);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int main(void)
{
	struct shmring_bridge_config c;
	struct shmring_bridge_shared st;
	struct shmring_bridge *b = NULL;
	char path[64], ring[64];
	int ret;

	/* Keys and values. */
	expect_set_err("no_such_key", "1", -EINVAL, "unknown key 'no_such_key'");
	expect_set_err("direction", "sideways", -EINVAL, "direction");
	expect_set_err("ring", "noslash", -EINVAL, "ring");
	expect_set_err("ring", "/a/b", -EINVAL, "ring");
	expect_set_err("ring_type", "ring", -EINVAL, "ring_type");
	expect_set_err("batch", "0", -EINVAL, "batch");
	expect_set_err("batch", "12x", -EINVAL, "batch");
	expect_set_err("max_pending", "-1", -EINVAL, "max_pending");
	expect_set_err("ack_wait_ms", "5", -EINVAL, "ack_wait_ms");
	expect_set_err("order", "random", -EINVAL, "order");
	expect_set_err("tls", "maybe", -EINVAL, "tls");
	{
		char longv[2048];

		memset(longv, 'a', sizeof(longv) - 1);
		longv[sizeof(longv) - 1] = 0;
		expect_set_err("servers", longv, -ENAMETOOLONG, "servers");
	}

	/* Good values, '-' and '_' alike, k/M suffixes. */
	shmring_bridge_config_init(&c);
	CHECK(shmring_bridge_config_set(&c, "max-pending", "2k") == 0 && c.max_pending == 2048, "max-pending 2k");
	CHECK(shmring_bridge_config_set(&c, "ring_type", "msg_mpsc") == 0, "ring_type msg_mpsc");
	CHECK(shmring_bridge_config_set(&c, "direction", "from-stream") == 0 &&
	      c.direction == SHMRING_BRIDGE_FROM_STREAM, "direction");

	/* Completeness for each direction. */
	shmring_bridge_config_init(&c);
	ret = shmring_bridge_create(&b, &c);
	CHECK(ret == -EINVAL && strstr(shmring_bridge_errdetail(), "direction"), "create without direction");
	shmring_bridge_config_set(&c, "direction", "to-stream");
	shmring_bridge_config_set(&c, "ring", "/x");
	shmring_bridge_config_set(&c, "stream", "S");
	ret = shmring_bridge_config_check(&c);
	CHECK(ret == -EINVAL && strstr(shmring_bridge_errdetail(), "subject"), "to-stream without subject");
	shmring_bridge_config_set(&c, "subject", "a.*");
	ret = shmring_bridge_config_check(&c);
	CHECK(ret == -EINVAL && strstr(shmring_bridge_errdetail(), "wildcard"), "publish subject with wildcard");
	shmring_bridge_config_set(&c, "subject", "a.b");
	CHECK(shmring_bridge_config_check(&c) == 0, "complete to-stream");
	shmring_bridge_config_set(&c, "direction", "from-stream");
	ret = shmring_bridge_config_check(&c);
	CHECK(ret == -EINVAL && strstr(shmring_bridge_errdetail(), "durable"), "from-stream without durable");
	shmring_bridge_config_set(&c, "stream", "A.B");
	shmring_bridge_config_set(&c, "durable", "d");
	ret = shmring_bridge_config_check(&c);
	CHECK(ret == -EINVAL && strstr(shmring_bridge_errdetail(), "stream 'A.B'"), "stream name with a dot");

	/* The config file: comments, blanks, a bad line named by number. */
	snprintf(path, sizeof(path), "/tmp/bridge_config_test.%d", (int)getpid());
	write_file(path, "# bridge\n\ndirection = to-stream   # the way\nring = /orders\n"
			 "servers = nats://a:4222,nats://b:4222\nstream = ORDERS\nsubject = orders.east\n"
			 "max_pending = 128\n");
	shmring_bridge_config_init(&c);
	ret = shmring_bridge_config_parse_file(&c, path);
	CHECK(ret == 0 && c.max_pending == 128 && !strcmp(c.subject, "orders.east") &&
	      !strcmp(c.servers, "nats://a:4222,nats://b:4222"), "good file: %d", ret);
	CHECK(shmring_bridge_config_check(&c) == 0, "good file is complete");
	write_file(path, "ring = /orders\nbatch = lots\n");
	ret = shmring_bridge_config_parse_file(&c, path);
	CHECK(ret == -EINVAL && strstr(shmring_bridge_errdetail(), ":2: batch"), "bad line 2: %d", ret);
	write_file(path, "ring /orders\n");
	ret = shmring_bridge_config_parse_file(&c, path);
	CHECK(ret == -EINVAL && strstr(shmring_bridge_errdetail(), "expected 'key = value'"), "no '='");
	unlink(path);
	ret = shmring_bridge_config_parse_file(&c, path);
	CHECK(ret == -ENOENT && strstr(shmring_bridge_errdetail(), path), "missing file: %d", ret);

	/* State of a ring no bridge ever ran on. */
	snprintf(ring, sizeof(ring), "/bridge_config_test_%d", (int)getpid());
	ret = shmring_bridge_state_read(ring, &st);
	CHECK(ret == -ENOENT, "state of an unbridged ring: %d", ret);
	ret = shmring_bridge_state_read("nope", &st);
	CHECK(ret == -EINVAL, "state of a bad name: %d", ret);

	if (failed) {
		fprintf(stderr, "%d checks failed\n", failed);
		return 1;
	}
	printf("bridge configuration: all checks passed\n");
	return 0;
}
