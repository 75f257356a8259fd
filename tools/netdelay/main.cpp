// netdelay: a fixed link delay for one network namespace, from an NFQUEUE.
//
// Written for the experiments (experiments/) because this kernel has no
// sch_netem: `tc qdisc ... netem delay` fails, and so does Mininet's
// TCLink(delay=...). Run inside a server's namespace: netdelay binds an
// NFQUEUE, optionally inserts the iptables rule that feeds it (INPUT, -i IF),
// holds every queued packet for --delay-ms and then issues an ACCEPT verdict.
// The delay is constant, so release order is arrival order and the timer
// queue is a FIFO. The queue is bounded (--limit packets, like netem's limit):
// a packet arriving at a full queue is dropped. On SIGTERM/SIGINT every held
// packet is accepted at once, the rule netdelay inserted (and only that rule)
// is deleted, and the queue is unbound.
//
// Delay the server's ingress, not its egress: holding its own outgoing
// packets trips TCP Small Queues and throttles its sending. A delay on the
// ingress only still adds exactly its value to every round trip through the
// server (TCP handshake, request/response, ICMP echo).
#include <arpa/inet.h>
#include <fcntl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Options {
  double delay_ms = 0;
  uint16_t queue = 0;
  uint32_t limit = 10000;
  std::string iface;  // non-empty: insert (and later delete) the iptables rule
  std::string iptables = "iptables";
  std::string pid_file;
  bool verbose = false;
};

struct Held {
  uint32_t id;
  int64_t release_ns;
};

struct State {
  nfq_q_handle* qh = nullptr;
  std::deque<Held> held;
  int64_t delay_ns = 0;
  uint32_t limit = 0;
  uint64_t delayed = 0;
  uint64_t dropped = 0;
  uint64_t max_held = 0;
};

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::string> rule(const Options& o, const char* op) {
  return {
      o.iptables,      "-w", "5", op, "INPUT", "-i", o.iface, "-j", "NFQUEUE", "--queue-num", std::to_string(o.queue),
      "--queue-bypass"};
}

int on_packet(nfq_q_handle* qh, nfgenmsg* /*msg*/, nfq_data* nfa, void* data) {
  auto& st = *static_cast<State*>(data);
  const nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == nullptr) return 0;
  const uint32_t id = ntohl(ph->packet_id);
  if (st.held.size() >= st.limit) {
    ++st.dropped;
    return nfq_set_verdict(qh, id, NF_DROP, 0, nullptr);
  }
  st.held.push_back({id, now_ns() + st.delay_ns});
  ++st.delayed;
  if (st.held.size() > st.max_held) st.max_held = st.held.size();
  return 0;
}

// ACCEPT every held packet whose time has come (all of them when `all`).
void release(State& st, bool all) {
  const int64_t now = now_ns();
  while (!st.held.empty() && (all || st.held.front().release_ns <= now)) {
    nfq_set_verdict(st.qh, st.held.front().id, NF_ACCEPT, 0, nullptr);
    st.held.pop_front();
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"netdelay: hold every packet of an NFQUEUE for a fixed time, then accept it"};
  app.add_option("--delay-ms", o.delay_ms, "time each packet is held, ms")->required()->check(CLI::Range(0.0, 10000.0));
  app.add_option("--queue", o.queue, "NFQUEUE number")->capture_default_str();
  app.add_option("--limit", o.limit, "most packets held at once; more are dropped")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--iface", o.iface,
                 "insert 'INPUT -i IFACE -j NFQUEUE --queue-num Q --queue-bypass' and delete it on exit "
                 "(default: the caller manages the rule)");
  app.add_option("--iptables", o.iptables, "iptables command")->capture_default_str();
  app.add_option("--pid-file", o.pid_file, "write the process id here once the queue is bound (removed on exit)");
  app.add_flag("-v,--verbose", o.verbose, "print the counters every 10 s");
  CLI11_PARSE(app, argc, argv);

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigprocmask(SIG_BLOCK, &sigs, nullptr);
  const int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
  if (sfd < 0) {
    std::perror("netdelay: signalfd");
    return 1;
  }

  State st;
  st.delay_ns = static_cast<int64_t>(o.delay_ms * 1e6);
  st.limit = o.limit;
  nfq_handle* h = nfq_open();
  if (h == nullptr) {
    std::fprintf(stderr, "netdelay: nfq_open failed (root? nfnetlink_queue?)\n");
    return 1;
  }
  st.qh = nfq_create_queue(h, o.queue, &on_packet, &st);
  if (st.qh == nullptr) {
    std::fprintf(stderr, "netdelay: cannot bind NFQUEUE %u (in use?)\n", o.queue);
    nfq_close(h);
    return 1;
  }
  // Only the packet id is needed: copy no payload. Let the kernel hold as many
  // as we may, and accept (not drop) if its own queue ever fills.
  if (nfq_set_mode(st.qh, NFQNL_COPY_META, 0) < 0) nfq_set_mode(st.qh, NFQNL_COPY_PACKET, 0);
  nfq_set_queue_maxlen(st.qh, o.limit);
  nfq_set_queue_flags(st.qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 4u << 20);
  const int fd = nfq_fd(h);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  bool rule_added = false;
  int rc = 0;
  if (!o.iface.empty()) {
    if (run(rule(o, "-I")) != 0) {
      std::fprintf(stderr, "netdelay: could not insert the iptables rule for %s\n", o.iface.c_str());
      rc = 1;
    } else {
      rule_added = true;
    }
  }
  if (rc == 0 && !o.pid_file.empty()) {
    std::ofstream(o.pid_file) << getpid() << "\n";
  }
  if (rc == 0) {
    std::fprintf(stderr, "netdelay: queue %u, delay %.3f ms, limit %u%s%s\n", o.queue, o.delay_ms, o.limit,
                 rule_added ? ", rule on INPUT -i " : "", rule_added ? o.iface.c_str() : "");
  }

  alignas(8) char buf[65536];
  int64_t next_stats = now_ns() + 10'000'000'000;
  bool stop = false;
  while (rc == 0 && !stop) {
    release(st, false);
    int timeout_ms = 1000;
    if (!st.held.empty()) {
      const int64_t wait = st.held.front().release_ns - now_ns();
      timeout_ms = wait <= 0 ? 0 : static_cast<int>((wait + 999'999) / 1'000'000);
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {sfd, POLLIN, 0}};
    const int n = poll(fds, 2, timeout_ms);
    if (n < 0 && errno != EINTR) {
      std::perror("netdelay: poll");
      rc = 1;
      break;
    }
    if (n > 0 && (fds[1].revents & POLLIN) != 0) stop = true;
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      // Drain what is there, bounded per wake-up so releases stay on time.
      for (int i = 0; i < 256; ++i) {
        const ssize_t len = recv(fd, buf, sizeof buf, 0);
        if (len < 0) {
          if (errno == ENOBUFS) {  // the kernel dropped notifications; fail-open keeps packets flowing
            ++st.dropped;
            continue;
          }
          break;  // EAGAIN or a real error
        }
        nfq_handle_packet(h, buf, static_cast<int>(len));
      }
    }
    if (o.verbose && now_ns() >= next_stats) {
      std::fprintf(stderr, "netdelay: delayed=%llu dropped=%llu held=%zu max_held=%llu\n",
                   static_cast<unsigned long long>(st.delayed), static_cast<unsigned long long>(st.dropped),
                   st.held.size(), static_cast<unsigned long long>(st.max_held));
      next_stats = now_ns() + 10'000'000'000;
    }
  }

  release(st, true);
  if (rule_added && run(rule(o, "-D")) != 0) {
    std::fprintf(stderr, "netdelay: could not delete the iptables rule for %s\n", o.iface.c_str());
    rc = 1;
  }
  nfq_destroy_queue(st.qh);
  nfq_close(h);
  if (!o.pid_file.empty()) unlink(o.pid_file.c_str());
  std::fprintf(stderr, "netdelay: stopped: delayed=%llu dropped=%llu max_held=%llu\n",
               static_cast<unsigned long long>(st.delayed), static_cast<unsigned long long>(st.dropped),
               static_cast<unsigned long long>(st.max_held));
  return rc;
}
