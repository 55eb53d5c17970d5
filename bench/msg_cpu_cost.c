/* SPDX-License-Identifier: MIT */
/*
 * msg_cpu_cost: CPU time per message on one thread (CLOCK_THREAD_CPUTIME_ID,
 * so time the thread spends preempted does not count, which makes it
 * usable on a busy machine): message ring push+pop, pipe write+read,
 * AF_UNIX stream write+read, and one memcpy of the message, for 64 B,
 * 1 KiB, 64 KiB and 1 MiB. Not a cross-core figure: shmring-bench gives
 * those (subjects shmring-msg, shmring-msg-zc, pipe, unix-stream, xcopy).
 */
#include <fcntl.h>
#include <shmring/shmring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void xfer(int wfd, int rfd, unsigned char *src, unsigned char *dst, size_t n, size_t chunk)
{
	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		size_t got = 0;
		if (write(wfd, src + off, k) != (ssize_t)k)
			abort();
		while (got < k) {
			ssize_t r = read(rfd, dst + off + got, k - got);
			if (r <= 0)
				abort();
			got += (size_t)r;
		}
	}
}

int main(void)
{
	size_t sizes[] = { 64, 1024, 65536, 1 << 20 };
	static unsigned char src[1 << 20], dst[1 << 20];


	memset(src, 7, sizeof(src));
	printf("%8s %14s %14s %14s %14s   (ns of CPU per message, best of 5)\n", "size", "msg push+pop",
	       "pipe w+r", "unix w+r", "memcpy");
	for (int si = 0; si < 4; si++) {
		size_t sz = sizes[si];
		long n = sz <= 1024 ? 200000 : sz <= 65536 ? 5000 : 300;
		double best[4] = { 1e18, 1e18, 1e18, 1e18 };
		struct shmring p, c;
		struct shmring_params prm;
		int pfd[2], sfd[2];

		shmring_params_init(&prm, SHMRING_MSG_SPSC, sz < 32768 ? 65536 : 4 * sz, (uint32_t)sz);
		if (shmring_create_anon(&p, &prm, SHMRING_PRODUCER) || shmring_dup(&c, &p, SHMRING_CONSUMER))
			return 1;
		if (pipe(pfd) || socketpair(AF_UNIX, SOCK_STREAM, 0, sfd))
			return 1;
		fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
		for (int rep = 0; rep < 5; rep++) {
			double t0 = cpu_ns();
			for (long i = 0; i < n; i++) {
				if (shmring_msg_push(&p, src, (uint32_t)sz) || shmring_msg_pop(&c, dst, (uint32_t)sz) != (int)sz)
					return 2;
			}
			double t1 = cpu_ns();
			for (long i = 0; i < n; i++)
				xfer(pfd[1], pfd[0], src, dst, sz, 65536);
			double t2 = cpu_ns();
			for (long i = 0; i < n; i++)
				xfer(sfd[0], sfd[1], src, dst, sz, 65536);
			double t3 = cpu_ns();
			for (long i = 0; i < n; i++) {
				memcpy(dst, src, sz);
				__asm__ __volatile__("" ::"r"(dst) : "memory");
			}
			double t4 = cpu_ns();
			double v[4] = { (t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n, (t4 - t3) / n };
			for (int k = 0; k < 4; k++)
				if (v[k] < best[k])
					best[k] = v[k];
		}
		printf("%8zu %14.1f %14.1f %14.1f %14.1f\n", sz, best[0], best[1], best[2], best[3]);
		printf("%8s %11.2f GB/s %9.2f GB/s %9.2f GB/s %9.2f GB/s\n", "", sz / best[0], sz / best[1],
		       sz / best[2], sz / best[3]);
		shmring_close(&c);
		shmring_close(&p);
		close(pfd[0]), close(pfd[1]), close(sfd[0]), close(sfd[1]);
	}
	return 0;
}
