// A deterministic discrete-event simulation of one VIP in front of
// heterogeneous backends, driving a Policy with BackendViews built the way the
// balancer core builds them. Used by simulation_test.cpp.
//
// Model (identical for every policy; nothing in it knows which policy runs):
// - Requests arrive as a Poisson process (rate `lambda` per second); each is
//   a new TCP connection from a distinct client port, with an exponential
//   CPU demand (mean `mean_demand_s` CPU-seconds). The arrival sequence is
//   generated up front from `arrival_seed`, so every policy sees the same one.
// - Backend i is a processor-sharing server of `capacity` CPUs behind a link
//   of one-way delay `one_way_ms`. A request reaches the server 1.5 round
//   trips after the policy picks it (the SYN, the SYN-ACK, then the ACK with
//   the request), and its response takes one more one-way delay: its
//   response time is two round trips (TCP handshake, then request and
//   response) plus its sojourn in the server.
// - Agent reports every `report_interval_s`, staggered per backend: CPU % =
//   the fraction of the last interval the server was busy; memory % =
//   `memory_base_pct` + `memory_per_request_pct` per request in service.
//   A report carries the number of requests in service (the agent's
//   established connections) and reaches the controller one one-way delay
//   after it was measured; its arrival resets the backend's
//   assigned_since_report, and the view passes the connections sent between
//   the last two arrivals (what the core counts).
// - Policies get the simulated time in BackendView::now.
// - Every `report_interval_s` the monitor probes each backend's RTT (2 x
//   one-way delay, smoothed like the core, EWMA 0.3) and reads port
//   statistics: available bandwidth = link capacity - bits sent in responses
//   over the last interval.
// - Metrics older than ScoringConfig::max_age are passed as nullopt.
// - active_connections counts connections whose flow entries exist: from the
//   pick until `idle_timeout_s` after the response (the switch's idle timeout
//   then removes the flows and the core decrements), as Fulcrum's table does.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <tuple>
#include <vector>

#include "balancer/policy.hpp"
#include "balancer/rng.hpp"

namespace fulcrum::lb::sim {

struct BackendModel {
  double capacity = 1.0;  // CPUs
  double one_way_ms = 0;
  uint32_t weight = 1;
};

struct Params {
  std::vector<BackendModel> backends;
  double lambda = 10;  // requests per second
  double mean_demand_s = 0.05;
  double horizon_s = 300;  // arrivals in [0, horizon)
  double warmup_s = 20;    // requests arriving before this are not measured
  double report_interval_s = 1.0;
  double idle_timeout_s = 10;
  double memory_base_pct = 20;
  double memory_per_request_pct = 1;
  double link_kbps = 100'000;
  double response_kbit = 500;
  double max_age_s = 5;
  bool staggered_reports = true;  // false: every agent reports at the same instant
  bool poisson_arrivals = true;   // false: evenly spaced, as httperf --rate sends
  bool report_capacity = true;    // agents say their CPU capacity (BackendView::cpu_capacity)
  uint64_t arrival_seed = 1;
  // When not empty (one per backend), the picks are not the policy's: each
  // request goes to the first backend, in the order given, holding fewer
  // than its threshold of requests in service or on their way, or, when all
  // are full, to the one least over its threshold. A reference that sees
  // what no policy can (every server's true count, at once), tuned knowing
  // the outcome: not a policy.
  std::vector<uint32_t> oracle_thresholds;
};

struct Result {
  double mean_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  std::vector<double> share;  // of measured requests, per backend
  uint64_t measured = 0;
  uint64_t dropped = 0;  // policy answered nullopt
};

struct Arrival {
  double t;
  double demand;
};

inline std::vector<Arrival> make_arrivals(const Params& p) {
  Xoshiro256 rng(p.arrival_seed);
  auto unit = [&rng] { return (static_cast<double>(rng.next_u64() >> 11) + 0.5) * 0x1.0p-53; };  // (0, 1)
  std::vector<Arrival> out;
  double t = 0;
  for (;;) {
    t += p.poisson_arrivals ? -std::log(unit()) / p.lambda : 1.0 / p.lambda;
    if (t >= p.horizon_s) break;
    out.push_back(Arrival{t, -std::log(unit()) * p.mean_demand_s});
  }
  return out;
}

// Processor sharing by virtual time: `v_` is the service each job present
// has received per unit of demand-time since the server was last idle (all
// jobs progress at capacity / n), so a job finishes when v_ reaches its value
// at the job's start plus its demand. O(log n) per event.
class PsServer {
 public:
  explicit PsServer(double capacity) : capacity_(capacity) {}
  void advance(double t) {
    if (!heap_.empty()) {
      v_ += (t - last_) * capacity_ / static_cast<double>(heap_.size());
      busy_ += t - last_;
    }
    last_ = t;
  }
  void add(double t, double demand, uint64_t job) {
    advance(t);
    heap_.push({v_ + demand, job});
  }
  [[nodiscard]] double next_completion() const {
    if (heap_.empty()) return INFINITY;
    return last_ + std::max(0.0, heap_.top().first - v_) * static_cast<double>(heap_.size()) / capacity_;
  }
  uint64_t complete(double t) {
    advance(t);
    uint64_t job = heap_.top().second;
    heap_.pop();
    if (heap_.empty()) v_ = 0;
    return job;
  }
  [[nodiscard]] std::size_t in_service() const { return heap_.size(); }
  // Busy time since the last call.
  double take_busy(double t) {
    advance(t);
    double b = busy_;
    busy_ = 0;
    return b;
  }

 private:
  using Entry = std::pair<double, uint64_t>;
  double capacity_;
  double v_ = 0, last_ = 0, busy_ = 0;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
};

// Runs the arrivals through the model; the policy picks, unless
// Params::oracle_thresholds are given.
inline Result run(const Params& p, const std::vector<Arrival>& arrivals, Policy& policy) {
  const std::size_t n = p.backends.size();
  struct State {
    std::unique_ptr<PsServer> server;
    double next_report = 0, report_time = -INFINITY;
    double cpu = 0, memory = 0;
    bool reported = false;
    double rtt_ms = 0;
    bool probed = false;
    double avail_kbps = 0, probe_time = -INFINITY;
    double sent_kbit = 0;
    uint32_t active = 0, assigned = 0;
    std::size_t on_the_way = 0;  // picked, not yet at the server
    uint64_t reports = 0;
    std::optional<uint32_t> assigned_last;
    uint32_t established = 0;
    // A report on its way to the controller.
    double report_arrives = INFINITY;
    double pending_cpu = 0, pending_memory = 0;
    uint32_t pending_established = 0;
  };
  std::vector<State> st(n);
  for (std::size_t i = 0; i < n; ++i) {
    st[i].server = std::make_unique<PsServer>(p.backends[i].capacity);
    // Agents start at different moments: staggered reports.
    st[i].next_report =
        p.report_interval_s * (p.staggered_reports ? 0.2 + 0.7 * static_cast<double>(i) / static_cast<double>(n) : 0.2);
  }
  double next_monitor = p.report_interval_s * 0.5;
  std::priority_queue<std::pair<double, std::size_t>, std::vector<std::pair<double, std::size_t>>, std::greater<>>
      expiries;
  // Requests on their way to a server: (arrival there, backend, job).
  std::priority_queue<std::tuple<double, std::size_t, std::size_t>,
                      std::vector<std::tuple<double, std::size_t, std::size_t>>, std::greater<>>
      on_the_way;
  std::vector<double> response_ms;
  std::vector<uint64_t> count(n, 0);
  std::vector<BackendView> views(n);
  uint64_t dropped = 0;
  std::size_t next_arrival = 0;
  std::size_t outstanding = 0;
  const auto max_age = p.max_age_s;

  for (;;) {
    // The next event of each kind.
    double t_arr = next_arrival < arrivals.size() ? arrivals[next_arrival].t : INFINITY;
    double t_done = INFINITY;
    std::size_t done_at = 0;
    double t_report = INFINITY, t_delivered = INFINITY;
    std::size_t report_at = 0, delivered_at = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double c = st[i].server->next_completion();
      if (c < t_done) t_done = c, done_at = i;
      if (st[i].next_report < t_report) t_report = st[i].next_report, report_at = i;
      if (st[i].report_arrives < t_delivered) t_delivered = st[i].report_arrives, delivered_at = i;
    }
    double t_exp = expiries.empty() ? INFINITY : expiries.top().first;
    const double t_reach = on_the_way.empty() ? INFINITY : std::get<0>(on_the_way.top());
    if (next_arrival >= arrivals.size() && outstanding == 0) break;

    const double t = std::min({t_arr, t_done, t_report, t_delivered, t_reach, t_exp, next_monitor});
    if (t == t_reach) {
      const auto [when, i, job] = on_the_way.top();
      on_the_way.pop();
      --st[i].on_the_way;
      st[i].server->add(t, arrivals[job].demand, job);
    } else if (t == t_done) {
      uint64_t job = st[done_at].server->complete(t);
      --outstanding;
      const Arrival& a = arrivals[job];
      if (a.t >= p.warmup_s) {
        response_ms.push_back((t - a.t) * 1000 + p.backends[done_at].one_way_ms);
        ++count[done_at];
      }
      st[done_at].sent_kbit += p.response_kbit;
      expiries.push({t + p.idle_timeout_s, done_at});
    } else if (t == t_exp) {
      auto [when, i] = expiries.top();
      expiries.pop();
      if (st[i].active > 0) --st[i].active;
    } else if (t == t_report) {
      State& s = st[report_at];
      const double busy = s.server->take_busy(t);
      s.pending_cpu = std::min(100.0, 100.0 * busy / p.report_interval_s);
      s.pending_memory =
          std::min(100.0, p.memory_base_pct + p.memory_per_request_pct * static_cast<double>(s.server->in_service()));
      s.pending_established = static_cast<uint32_t>(s.server->in_service());
      s.report_arrives = t + p.backends[report_at].one_way_ms / 1000;
      s.next_report = t + p.report_interval_s;
    } else if (t == t_delivered) {
      State& s = st[delivered_at];
      s.cpu = s.pending_cpu;
      s.memory = s.pending_memory;
      s.established = s.pending_established;
      s.assigned_last = s.reported ? std::optional<uint32_t>(s.assigned) : std::nullopt;
      ++s.reports;
      s.reported = true;
      s.report_time = t;
      s.assigned = 0;
      s.report_arrives = INFINITY;
    } else if (t == next_monitor) {
      for (std::size_t i = 0; i < n; ++i) {
        State& s = st[i];
        const double sample = 2 * p.backends[i].one_way_ms;
        s.rtt_ms = s.probed ? 0.7 * s.rtt_ms + 0.3 * sample : sample;
        s.probed = true;
        s.avail_kbps = std::max(0.0, p.link_kbps - s.sent_kbit / p.report_interval_s);
        s.sent_kbit = 0;
        s.probe_time = t;
      }
      next_monitor = t + p.report_interval_s;
    } else {
      // A new connection: ask the policy, with views as the core builds them.
      for (std::size_t i = 0; i < n; ++i) {
        const State& s = st[i];
        BackendView v;
        v.weight = p.backends[i].weight;
        v.active_connections = s.active;
        v.available = true;
        v.ip = Ipv4Addr{0x0a00000bu + static_cast<uint32_t>(i)};
        const bool report_fresh = s.reported && t - s.report_time <= max_age;
        const bool monitor_fresh = s.probed && t - s.probe_time <= max_age;
        if (report_fresh) {
          v.cpu_pct = s.cpu, v.memory_pct = s.memory;
          if (p.report_capacity) v.cpu_capacity = p.backends[i].capacity;
          v.established = s.established;
          v.assigned_last_interval = s.assigned_last;
          v.report_interval_s = p.report_interval_s;
        }
        v.report_seq = s.reports;
        v.now = TimePoint{} + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(t));
        if (monitor_fresh) v.rtt_ms = s.rtt_ms, v.avail_bw_kbps = s.avail_kbps;
        v.assigned_since_report = s.assigned;
        views[i] = v;
      }
      ConnKey key{6, Ipv4Addr{0x0a000101u + static_cast<uint32_t>(next_arrival % 200)},
                  static_cast<uint16_t>(1024 + next_arrival % 60000), Ipv4Addr{0x0a000064u}, 80};
      std::optional<uint32_t> chosen;
      if (p.oracle_thresholds.empty()) {
        chosen = policy.pick(views, key);
      } else {
        // The first backend, in the order given, with fewer than its
        // threshold of requests in service or on their way; when all are
        // full, the first of those least over their threshold.
        uint32_t least = 0;
        int64_t least_over = INT64_MAX;
        for (std::size_t i = 0; i < n; ++i) {
          const auto held = static_cast<int64_t>(st[i].server->in_service() + st[i].on_the_way);
          const int64_t over = held - int64_t{p.oracle_thresholds[i]};
          if (over < 0) {
            least = static_cast<uint32_t>(i);
            break;
          }
          if (over < least_over) least_over = over, least = static_cast<uint32_t>(i);
        }
        chosen = least;
      }
      if (!chosen) {
        ++dropped;
      } else {
        State& s = st[*chosen];
        ++s.active;
        ++s.assigned;
        ++s.on_the_way;
        on_the_way.emplace(t + 3 * p.backends[*chosen].one_way_ms / 1000, *chosen, next_arrival);
        ++outstanding;
      }
      ++next_arrival;
    }
  }

  Result r;
  r.dropped = dropped;
  r.measured = response_ms.size();
  if (!response_ms.empty()) {
    double sum = 0;
    for (double x : response_ms) sum += x;
    r.mean_ms = sum / static_cast<double>(response_ms.size());
    auto at = [&response_ms](double q) {
      auto k = static_cast<std::size_t>(q * static_cast<double>(response_ms.size() - 1));
      std::nth_element(response_ms.begin(), response_ms.begin() + static_cast<std::ptrdiff_t>(k), response_ms.end());
      return response_ms[k];
    };
    r.p50_ms = at(0.50);
    r.p99_ms = at(0.99);
  }
  for (std::size_t i = 0; i < n; ++i) {
    r.share.push_back(r.measured ? static_cast<double>(count[i]) / static_cast<double>(r.measured) : 0);
  }
  return r;
}

}  // namespace fulcrum::lb::sim
