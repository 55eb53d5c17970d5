/* SPDX-License-Identifier: MIT */
/*
 * Passing a ring's descriptor over a UNIX socket (SCM_RIGHTS): the way to
 * share an anonymous (memfd) ring with a process that is not a fork()ed
 * child, and the way to share a ring with a peer that is not trusted. A
 * memfd ring is sealed against shrinking, so no holder of the descriptor
 * can make the other holders' accesses fault (SIGBUS); a named object has
 * no such protection (docs/reliability.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

int shmring_fd_send(int sock, int fd)
{
	char byte = 'R';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg;
	struct cmsghdr *c;
	ssize_t n;

	shmring__clear_detail();
	if (fd < 0)
		return shmring__fail(-EINVAL, "descriptor %d is invalid", fd);
	memset(&u, 0, sizeof(u));
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return shmring__fail(-errno, "sendmsg: %s", strerror(errno));
	return 0;
}

int shmring_fd_recv(int sock, uint32_t flags)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} u;
	struct msghdr msg;
	struct cmsghdr *c;
	ssize_t n;
	int fd = -1;

	shmring__clear_detail();
	if (flags & ~(uint32_t)SHMRING_FD_SEALED)
		return shmring__fail(-EINVAL, "flags 0x%x hold unknown bits", flags);
	memset(&u, 0, sizeof(u));
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return shmring__fail(-errno, "recvmsg: %s", strerror(errno));
	/* Close every descriptor that came, but keep only the first. */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k; i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd < 0)
				fd = got;
			else
				close(got);
		}
	}
	if (n == 0 && fd < 0)
		return shmring__fail(-ENOTCONN, "the peer closed the socket");
	if (msg.msg_flags & MSG_CTRUNC) {
		if (fd >= 0)
			close(fd);
		return shmring__fail(-EPROTO, "descriptors were truncated");
	}
	if (fd < 0)
		return shmring__fail(-EPROTO, "the message carried no descriptor");
	if (flags & SHMRING_FD_SEALED) {
		int seals = fcntl(fd, F_GET_SEALS);

		if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
			close(fd);
			return shmring__fail(-EPERM, "the descriptor is not sealed against shrinking (seals 0x%x)",
					     seals < 0 ? 0 : (unsigned)seals);
		}
	}
	return fd;
}
