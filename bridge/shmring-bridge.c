/* SPDX-License-Identifier: MIT */
/*
 * shmring-bridge: a ring to a NATS JetStream stream, or a stream to a ring.
 *
 *   shmring-bridge --to-stream --ring /orders --servers nats://hub:4222 \
 *                  --stream ORDERS --subject orders.east
 *   shmring-bridge --from-stream --ring /orders --servers nats://hub:4222 \
 *                  --stream ORDERS --subject orders.east --durable east-in
 *
 * Every key of the config file is also an option (--key value); options
 * given after --config override the file. docs/bridge.md has the details.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmring/bridge.h>
#include <shmring/shmring.h>

static struct shmring_bridge *running;

static void on_signal(int sig)
{
	(void)sig;
	if (running)
		shmring_bridge_stop(running);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: shmring-bridge (--to-stream | --from-stream) --ring NAME --stream NAME [options]\n"
		"       shmring-bridge --config FILE [options]\n"
		"\n"
		"  --config FILE        read 'key = value' lines (options after it override)\n"
		"  --to-stream          ring -> stream: consume the ring, publish each message\n"
		"  --from-stream        stream -> ring: fetch from a durable consumer, push into the ring\n"
		"  --ring NAME          the ring (\"/name\")\n"
		"  --ring-type T        spsc | msg_spsc | msg_mpsc | mpmc (expected; any if unset)\n"
		"  --ring-capacity N    from-stream: create the ring (N slots or bytes) if missing\n"
		"  --ring-slot N        ... with this slot size or largest message\n"
		"  --servers URLS       nats://host:port[,nats://host:port...] (default nats://127.0.0.1:4222)\n"
		"  --creds FILE         credentials file; or --user U --password P, or --token T\n"
		"  --tls yes            TLS; --tls-ca FILE --tls-cert FILE --tls-key FILE\n"
		"                       --tls-hostname NAME --tls-insecure yes\n"
		"  --stream NAME        the JetStream stream\n"
		"  --subject SUBJ       to-stream: subject to publish to; from-stream: filter\n"
		"  --durable NAME       from-stream: the durable consumer\n"
		"  --create-stream yes  create the stream if missing (--replicas N, --dup-window-ms MS)\n"
		"  --batch N            from-stream: messages per fetch (256)\n"
		"  --max-pending N      to-stream: publishes awaiting acknowledgement (4096)\n"
		"  --ack-wait-ms MS     acknowledgement timeout (5000)\n"
		"  --order chain|none   to-stream: let the stream enforce ring order (chain, default)\n"
		"  --retry-max-ms MS    longest wait between connection attempts (5000)\n"
		"  --send-asap yes      write each message at once (latency) instead of gathering 1 ms\n"
		"  --name NAME          connection name\n"
		"\n"
		"exit status: 0 stopped by SIGINT/SIGTERM; 1 bad usage; 2 failure (the message says which)\n");
}

int main(int argc, char **argv)
{
	struct shmring_bridge_config c;
	struct shmring_bridge *b;
	struct sigaction sa;
	int ret;

	shmring_bridge_config_init(&c);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--to-stream") || !strcmp(a, "--from-stream")) {
			shmring_bridge_config_set(&c, "direction", a + 2);
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
			fprintf(stderr, "shmring-bridge: %s: expected --key value\n", a);
			usage(stderr);
			return 1;
		}
		if (!strcmp(a, "--config"))
			ret = shmring_bridge_config_parse_file(&c, argv[++i]);
		else
			ret = shmring_bridge_config_set(&c, a + 2, argv[++i]);
		if (ret < 0) {
			fprintf(stderr, "shmring-bridge: %s\n", shmring_bridge_errdetail());
			return 1;
		}
	}
	ret = shmring_bridge_create(&b, &c);
	if (ret < 0) {
		fprintf(stderr, "shmring-bridge: %s\n", shmring_bridge_errdetail());
		usage(stderr);
		return 1;
	}
	running = b;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ret = shmring_bridge_run(b);
	running = NULL;
	if (ret < 0)
		fprintf(stderr, "shmring-bridge: %s\n", shmring_bridge_errdetail());
	shmring_bridge_destroy(b);
	return ret < 0 ? 2 : 0;
}
