/* SPDX-License-Identifier: MIT */
/*
 * Every header field corrupted in turn in a real object (written through
 * /dev/shm/NAME): open fails with the documented code and a detail naming
 * the field, and leaves every byte of the object as it was. Restoring the
 * field makes the same open succeed, so each failure is due to that field.
 * Also: truncated and oversized objects, and a creator that never marks
 * the header ready.
 */
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

#define CAP 64
#define SLOT 8

struct obj {
	char name[96];
	char path[128];
	int fd;
	size_t size;
};

static void obj_create_type(struct obj *o, uint32_t type)
{
	struct shmring r;
	struct shmring_params p;
	struct stat st;

	snprintf(o->name, sizeof(o->name), "%s", t_name("corrupt"));
	snprintf(o->path, sizeof(o->path), "/dev/shm%s", o->name);
	if (type == SHMRING_MSG_SPSC || type == SHMRING_MSG_MPSC)
		shmring_params_init(&p, type, 1024, 100);
	else
		shmring_params_init(&p, type, CAP, SLOT);
	cr_assert_eq(shmring_create(&r, o->name, &p, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(&r), 0);
	o->fd = open(o->path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(o->fd, 0);
	cr_assert_eq(fstat(o->fd, &st), 0);
	o->size = (size_t)st.st_size;
}

static void obj_create(struct obj *o)
{
	obj_create_type(o, SHMRING_SPSC);
}

static void obj_destroy(struct obj *o)
{
	close(o->fd);
	cr_assert_eq(shmring_unlink(o->name), 0);
}

static unsigned char *obj_read(const struct obj *o, size_t *len)
{
	struct stat st;

	cr_assert_eq(fstat(o->fd, &st), 0);
	unsigned char *b = malloc((size_t)st.st_size + 1);

	cr_assert_not_null(b);
	cr_assert_eq(pread(o->fd, b, (size_t)st.st_size, 0), st.st_size);
	*len = (size_t)st.st_size;
	return b;
}

/* Open must fail with err and a detail holding `needle`, changing nothing. */
static void open_fails(const struct obj *o, int err, const char *needle, const char *what)
{
	struct shmring_open_opts opts = { .timeout_ms = 30 };
	static const uint32_t roles[] = { SHMRING_CONSUMER, SHMRING_PRODUCER, SHMRING_OBSERVER };
	size_t n0, n1;
	unsigned char *before = obj_read(o, &n0);

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		struct shmring r;
		int ret = shmring_open(&r, o->name, roles[i], &opts);

		cr_assert_eq(ret, err, "%s (role %u): open returned %d (%s), expected %d", what, roles[i],
			     ret, shmring_errdetail(), err);
		cr_assert(strstr(shmring_errdetail(), needle), "%s: detail '%s' does not name '%s'", what,
			  shmring_errdetail(), needle);
	}
	unsigned char *after = obj_read(o, &n1);

	cr_assert_eq(n0, n1, "%s: size changed", what);
	cr_assert_eq(memcmp(before, after, n0), 0, "%s: the object changed", what);
	free(before);
	free(after);
}

static void open_works(const struct obj *o, const char *what)
{
	struct shmring r;
	int ret = shmring_open(&r, o->name, SHMRING_CONSUMER, NULL);

	cr_assert_eq(ret, 0, "%s: open after restoring failed: %d (%s)", what, ret, shmring_errdetail());
	cr_assert_eq(shmring_close(&r), 0);
}

struct patch {
	const char *field; /* also what the detail must name */
	size_t off, len;
	uint64_t value;
	int err;
	const char *needle; /* detail text when it is not the field name */
};

#define F(name) #name, offsetof(struct shmring_hdr, name), sizeof(((struct shmring_hdr *)0)->name)

static const struct patch patches[] = {
	{ F(magic), 0, -EPROTO, NULL },
	{ F(magic), 0x31474e49524d4854ull, -EPROTO, NULL },
	{ F(abi_version), 0, -EPROTO, NULL },
	{ F(abi_version), 1, -EPROTO, NULL }, /* the version before the claim mode */
	{ F(abi_version), 2, -EPROTO, NULL }, /* claim mode by default, no hdr_check: refused */
	{ F(abi_version), 3, -EPROTO, NULL }, /* 64-byte-plus SPSC slots rounded to whole lines */
	{ F(abi_version), 5, -EPROTO, NULL },
	{ F(abi_version), UINT32_MAX, -EPROTO, NULL },
	{ F(hdr_size), 0, -EPROTO, NULL },
	{ F(hdr_size), 4096, -EPROTO, NULL },
	{ F(kind), 0, -EPROTO, NULL },
	{ F(kind), 0xffff, -EPROTO, NULL },
	{ F(prod_mode), 0, -EPROTO, NULL },
	{ F(prod_mode), 2, -EPROTO, NULL },
	{ F(prod_mode), 0xff, -EPROTO, NULL },
	{ F(cons_mode), 0, -EPROTO, NULL },
	{ F(cons_mode), 2, -EPROTO, NULL },
	{ F(flags), 0x100, -EPROTO, NULL },
	{ F(flags), SHMRING_F_SOLO | SHMRING_F_NO_SOLO, -EPROTO, NULL },
	{ F(flags), SHMRING_F_NO_SOLO, -EPROTO, NULL }, /* MPMC only */
	{ F(flags), SHMRING_F_MEMFD, -EPROTO, "hdr_check" },
	{ F(flags), SHMRING_F_COUNTERS, -EPROTO, "hdr_check" },
	{ F(slot_size), SLOT - 1, -EPROTO, "hdr_check" }, /* same stride */
	{ F(init_pos), 1, -EPROTO, "hdr_check" },
	{ F(mode), 0640, -EPROTO, "hdr_check" },
	{ F(hdr_check), 0, -EPROTO, NULL },
	{ F(flags), 0x80000000u, -EPROTO, NULL },
	{ F(slot_size), 0, -EPROTO, NULL },
	{ F(slot_size), 16, -EPROTO, NULL },
	{ F(slot_size), SHMRING_SLOT_MAX + 1, -EPROTO, NULL },
	{ F(slot_size), UINT32_MAX, -EPROTO, NULL },
	{ F(slot_stride), 0, -EPROTO, NULL },
	{ F(slot_stride), 8, -EPROTO, NULL },
	{ F(slot_stride), 32, -EPROTO, NULL },
	{ F(slot_stride), UINT32_MAX, -EPROTO, NULL },
	{ F(capacity), 0, -EPROTO, NULL },
	{ F(capacity), CAP - 1, -EPROTO, NULL },
	{ F(capacity), CAP * 2, -EPROTO, NULL },
	{ F(capacity), CAP / 2, -EPROTO, NULL },
	{ F(capacity), 1ull << 41, -EPROTO, NULL },
	{ F(capacity), 1ull << 63, -EPROTO, NULL },
	{ F(total_size), 0, -EPROTO, NULL },
	{ F(total_size), 4096, -EPROTO, NULL },
	{ F(total_size), UINT64_MAX, -EPROTO, NULL },
	{ F(ctrl_off), 0, -EPROTO, NULL },
	{ F(ctrl_off), 1ull << 62, -EPROTO, NULL },
	{ F(ep_off), 0, -EPROTO, NULL },
	{ F(ep_off), 12288, -EPROTO, NULL },
	{ F(ep_count), 0, -EPROTO, NULL },
	{ F(ep_count), 1, -EPROTO, NULL },
	{ F(ep_count), 3, -EPROTO, NULL },
	{ F(ep_count), SHMRING_EP_MAX + 1, -EPROTO, NULL },
	{ F(ep_count), UINT32_MAX, -EPROTO, NULL },
	{ F(mode), 01000, -EPROTO, NULL },
	{ F(mode), UINT32_MAX, -EPROTO, NULL },
	{ F(data_off), 0, -EPROTO, NULL },
	{ F(data_off), 4096, -EPROTO, NULL },
	{ F(data_off), UINT64_MAX - 4095, -EPROTO, NULL },
	{ F(data_size), 0, -EPROTO, NULL },
	{ F(data_size), CAP * 16 * 2, -EPROTO, NULL },
	{ F(data_size), UINT64_MAX, -EPROTO, NULL },
	{ F(creator_uid), 12345, -EPROTO, NULL },
	{ F(page_size), 0, -EPROTO, NULL },
	{ F(page_size), 3, -EPROTO, NULL },
	{ F(page_size), 2048, -EPROTO, NULL },
	{ F(page_size), 8192, -EPROTO, NULL },
	{ F(page_size), 1ull << 40, -EPROTO, NULL },
	{ "reserved0", offsetof(struct shmring_hdr, reserved0), 1, 1, -EPROTO, NULL },
	{ "reserved0", offsetof(struct shmring_hdr, reserved0) + sizeof(((struct shmring_hdr *)0)->reserved0) - 1,
	  1, 0x80, -EPROTO, NULL },
	{ "reserved1", offsetof(struct shmring_hdr, reserved1), 1, 1, -EPROTO, NULL },
	{ "reserved1", offsetof(struct shmring_hdr, reserved1) + sizeof(((struct shmring_hdr *)0)->reserved1) - 1,
	  1, 0xff, -EPROTO, NULL },
	/* The creator never marked the header ready. */
	{ F(ready), 0, -ETIMEDOUT, "ready 0x0" },
	{ F(ready), 0x59444551u, -ETIMEDOUT, "ready 0x59444551" },
};

static void poke(int fd, size_t off, size_t len, uint64_t v)
{
	unsigned char b[8];

	cr_assert_leq(len, 8);
	memcpy(b, &v, len); /* little endian: the low bytes */
	cr_assert_eq(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
}

Test(header_corrupt, every_field, .timeout = 60)
{
	struct obj o;
	unsigned char saved[8];

	obj_create(&o);
	open_works(&o, "pristine object");
	for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
		const struct patch *pt = &patches[i];
		char what[128];

		snprintf(what, sizeof(what), "%s = 0x%llx", pt->field, (unsigned long long)pt->value);
		cr_assert_eq(pread(o.fd, saved, pt->len, (off_t)pt->off), (ssize_t)pt->len);
		poke(o.fd, pt->off, pt->len, pt->value);
		open_fails(&o, pt->err, pt->needle ? pt->needle : pt->field, what);
		cr_assert_eq(pwrite(o.fd, saved, pt->len, (off_t)pt->off), (ssize_t)pt->len);
		open_works(&o, what);
	}
	obj_destroy(&o);
}

/* Fields that describe the ring's history, not its geometry: open does
 * not use them (the dump tool reports them), but hdr_check covers them,
 * so a change is refused all the same. */
Test(header_corrupt, informational_fields_checked)
{
	static const struct patch info[] = {
		{ F(creator_pid), 0x7fffffff, -EPROTO, "hdr_check" },
		{ F(creator_start), UINT64_MAX, -EPROTO, "hdr_check" },
		{ F(create_time_ns), 0, -EPROTO, "hdr_check" },
		{ F(init_pos), 0x123456789ull, -EPROTO, "hdr_check" },
		{ F(place_node), 1, -EPROTO, "hdr_check" },
	};
	struct obj o;
	unsigned char saved[8];

	obj_create(&o);
	for (size_t i = 0; i < sizeof(info) / sizeof(info[0]); i++) {
		cr_assert_eq(pread(o.fd, saved, info[i].len, (off_t)info[i].off), (ssize_t)info[i].len);
		poke(o.fd, info[i].off, info[i].len, info[i].value);
		open_fails(&o, info[i].err, info[i].needle, info[i].field);
		cr_assert_eq(pwrite(o.fd, saved, info[i].len, (off_t)info[i].off), (ssize_t)info[i].len);
		open_works(&o, info[i].field);
	}
	obj_destroy(&o);
}

/*
 * A change of any single byte of the immutable header (every field before
 * hdr_check, and hdr_check itself), low bit or high bit, is refused, in
 * rings of every kind: also those that leave a valid-looking value
 * (slot_size or ep_count within the same stride or page, flags, init_pos).
 */
Test(header_corrupt, single_byte_flips, .timeout = 60)
{
	static const uint32_t types[] = { SHMRING_SPSC, SHMRING_MPMC, SHMRING_MSG_SPSC, SHMRING_MSG_MPSC,
					  SHMRING_BROADCAST };
	size_t end = offsetof(struct shmring_hdr, hdr_check) + sizeof(uint64_t);

	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		struct obj o;

		obj_create_type(&o, types[k]);
		for (size_t off = 0; off < end; off++) {
			for (unsigned bit = 0; bit < 8; bit += 7) {
				unsigned char b, f;
				char what[96];

				cr_assert_eq(pread(o.fd, &b, 1, (off_t)off), 1);
				f = b ^ (unsigned char)(1u << bit);
				cr_assert_eq(pwrite(o.fd, &f, 1, (off_t)off), 1);
				snprintf(what, sizeof(what), "type %u, byte %zu ^ 0x%02x", types[k], off, 1u << bit);
				open_fails(&o, -EPROTO, "header field", what);
				cr_assert_eq(pwrite(o.fd, &b, 1, (off_t)off), 1);
			}
		}
		open_works(&o, "restored");
		obj_destroy(&o);
	}
}

Test(header_corrupt, wrong_size, .timeout = 60)
{
	struct obj o;
	unsigned char *orig;
	size_t n;

	obj_create(&o);
	orig = obj_read(&o, &n);
	/* Shorter than the header page. */
	cr_assert_eq(ftruncate(o.fd, 100), 0);
	open_fails(&o, -EPROTO, "smaller than", "100-byte object");
	cr_assert_eq(ftruncate(o.fd, SHMRING_HDR_SIZE - 1), 0);
	open_fails(&o, -EPROTO, "smaller than", "header page minus one");
	/* Header intact but data missing, or extra bytes. */
	cr_assert_eq(pwrite(o.fd, orig, SHMRING_HDR_SIZE, 0), SHMRING_HDR_SIZE);
	cr_assert_eq(ftruncate(o.fd, SHMRING_HDR_SIZE), 0);
	open_fails(&o, -EPROTO, "total_size", "header page only");
	cr_assert_eq(ftruncate(o.fd, (off_t)n - 1), 0);
	open_fails(&o, -EPROTO, "total_size", "one byte short");
	cr_assert_eq(ftruncate(o.fd, (off_t)n + 4096), 0);
	open_fails(&o, -EPROTO, "total_size", "one page long");
	/* Empty: a creator that never sized the object. */
	cr_assert_eq(ftruncate(o.fd, 0), 0);
	open_fails(&o, -ETIMEDOUT, "0 bytes", "empty object");
	/* Restored, it opens again. */
	cr_assert_eq(ftruncate(o.fd, (off_t)n), 0);
	cr_assert_eq(pwrite(o.fd, orig, n, 0), (ssize_t)n);
	open_works(&o, "restored");
	free(orig);
	obj_destroy(&o);
}

/* A creator still initialising: open waits and succeeds once ready is set. */
Test(header_corrupt, open_waits_for_ready, .timeout = 30)
{
	struct obj o;
	struct shmring r;
	struct shmring_open_opts opts = { .timeout_ms = 5000 };
	pid_t pid;

	obj_create(&o);
	poke(o.fd, offsetof(struct shmring_hdr, ready), 4, 0);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		usleep(100 * 1000);
		poke(o.fd, offsetof(struct shmring_hdr, ready), 4, SHMRING_READY);
		_exit(0);
	}
	cr_assert_eq(shmring_open(&r, o.name, SHMRING_CONSUMER, &opts), 0, "%s", shmring_errdetail());
	t_wait_ok(pid, "ready setter");
	cr_assert_eq(shmring_close(&r), 0);
	obj_destroy(&o);
}

/* What the opener asks for must match. */
Test(header_corrupt, open_expectations)
{
	struct obj o;
	struct shmring r;
	struct shmring_open_opts opts = { .type = SHMRING_MPMC };

	obj_create(&o);
	cr_assert_eq(shmring_open(&r, o.name, SHMRING_CONSUMER, &opts), -EPROTO);
	cr_assert(strstr(shmring_errdetail(), "type"), "%s", shmring_errdetail());
	opts.type = SHMRING_SPSC;
	opts.slot_size = SLOT + 1;
	cr_assert_eq(shmring_open(&r, o.name, SHMRING_CONSUMER, &opts), -EPROTO);
	cr_assert(strstr(shmring_errdetail(), "slot_size"), "%s", shmring_errdetail());
	opts.slot_size = SLOT;
	cr_assert_eq(shmring_open(&r, o.name, SHMRING_CONSUMER, &opts), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(&r), 0);
	obj_destroy(&o);
}
