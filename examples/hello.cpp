// SPDX-License-Identifier: MIT
//
// hello.cpp: the C API from C++17.
//
// Every public header compiles as C++ (they carry extern "C" and use
// std::atomic there), so a C++ program includes them as they are. This
// one wraps a ring handle in a small RAII class, sends a few strings from
// a fork()ed child to the parent through an SPSC ring with the blocking
// calls, and checks them.
//
// Build against the installed library:
//   c++ -std=c++17 hello.cpp $(pkg-config --cflags --libs shmring)

#include <shmring/set.h>
#include <shmring/shmring.h>
#include <shmring/topo.h>
#include <shmring/wait.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

// One handle, closed when it goes out of scope. Not copyable: a handle is
// one endpoint's registration in the ring.
class Ring {
public:
	Ring() { std::memset(&r_, 0, sizeof(r_)); }
	~Ring()
	{
		if (open_)
			shmring_close(&r_);
	}
	Ring(const Ring &) = delete;
	Ring &operator=(const Ring &) = delete;

	int create(const std::string &name, const shmring_params &p, uint32_t role)
	{
		int ret = shmring_create(&r_, name.c_str(), &p, role);
		open_ = ret == 0;
		return ret;
	}
	int open(const std::string &name, uint32_t role)
	{
		int ret = shmring_open(&r_, name.c_str(), role, nullptr);
		open_ = ret == 0;
		return ret;
	}
	shmring *get() { return &r_; }

private:
	shmring r_;
	bool open_ = false;
};

// The slot: a fixed-size, trivially copyable message.
struct Greeting {
	uint32_t id;
	std::array<char, 60> text;
};

const std::vector<std::string> kWords = { "hello", "from", "a", "C++17", "process" };

int fail(const char *what, int err)
{
	std::fprintf(stderr, "hello: %s: %s (%s)\n", what, shmring_strerror(err),
		     shmring_errdetail());
	return 1;
}

// The child: attach as the producer and send one greeting per word.
int produce(const std::string &name)
{
	Ring prod;
	int ret = prod.open(name, SHMRING_PRODUCER);
	if (ret < 0)
		return fail("shmring_open", ret);
	for (uint32_t i = 0; i < kWords.size(); i++) {
		Greeting g{};
		g.id = i;
		std::snprintf(g.text.data(), g.text.size(), "%s", kWords[i].c_str());
		timespec deadline;
		shmring_deadline_after(&deadline, 5000000000ull);
		ret = shmring_spsc_push_wait(prod.get(), &g, &deadline);
		if (ret < 0)
			return fail("shmring_spsc_push_wait", ret);
	}
	return 0; // ~Ring closes the handle
}

} // namespace

int main()
{
	const std::string name = "/shmring-hellocpp-" + std::to_string(getpid());

	shmring_params prm;
	shmring_params_init(&prm, SHMRING_SPSC, 16, sizeof(Greeting));
	int bad = 0;
	{
		Ring cons;
		int ret = cons.create(name, prm, SHMRING_CONSUMER);
		if (ret < 0)
			return fail("shmring_create", ret);

		pid_t child = fork();
		if (child == 0)
			_exit(produce(name));

		std::string line;
		for (uint32_t i = 0; i < kWords.size() && child > 0; i++) {
			Greeting g{};
			timespec deadline;
			shmring_deadline_after(&deadline, 5000000000ull);
			ret = shmring_spsc_pop_wait(cons.get(), &g, &deadline);
			if (ret < 0) {
				bad = fail("shmring_spsc_pop_wait", ret);
				break;
			}
			if (g.id != i || kWords[i] != g.text.data())
				bad = 1;
			line += (i ? " " : "") + std::string(g.text.data());
		}
		int status = 0;
		if (child < 0 || waitpid(child, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			bad = 1;
		std::printf("received: %s\n", line.c_str());
	} // ~Ring closes the consumer handle
	shmring_unlink(name.c_str());
	std::printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
