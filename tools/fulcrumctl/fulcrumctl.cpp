// fulcrumctl: a command-line client for Fulcrum's REST API (docs/API.md).
//
//   fulcrumctl [--api URL] [--token-file FILE] [--json] COMMAND ...
//   fulcrumctl backends web            # table of the VIP's backends
//   fulcrumctl drain web 10.0.0.11     # no new connections to it
//   fulcrumctl weight web 10.0.0.12 5
//
// Exit status: 0 done, 1 the server refused (its message is printed), 2 bad
// usage, 3 the API could not be reached.
#include <fmt/format.h>
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;

struct Options {
  std::string api = "http://127.0.0.1:8080";
  std::string token_file;
  bool json_out = false;
};

std::string encode(const std::string& segment) {
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// A plain table: columns as wide as their widest cell, numbers right-aligned.
std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::string& c = cells[i];
      std::string pad(width[i] - std::min(width[i], c.size()), ' ');
      l += (i ? "  " : "") + (right[i] ? pad + c : c + (i + 1 < cells.size() ? pad : ""));
    }
    out += l + "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

std::string num(const json& v, int digits) {
  if (v.is_null()) return "-";
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  return fmt::format("{:.{}f}", v.get<double>(), digits);
}

class Client {
 public:
  explicit Client(const Options& o) : opts_(o), http_(o.api) {
    http_.set_connection_timeout(3);
    http_.set_read_timeout(10);
    http_.set_tcp_nodelay(true);
    if (!o.token_file.empty()) {
      std::ifstream in(o.token_file);
      if (!in) {
        std::cerr << "fulcrumctl: cannot read token file " << o.token_file << "\n";
        std::exit(2);
      }
      std::string t((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
      http_.set_bearer_token_auth(t);
    }
  }

  // Sends a request; on success returns the JSON body, else prints the
  // server's error and exits.
  json call(const std::string& method, const std::string& path, const std::optional<json>& body = std::nullopt) {
    const std::string text = body ? body->dump() : "";
    httplib::Result res = method == "GET"     ? http_.Get(path)
                          : method == "POST"  ? http_.Post(path, text, "application/json")
                          : method == "PATCH" ? http_.Patch(path, text, "application/json")
                                              : http_.Delete(path);
    if (!res) {
      std::cerr << "fulcrumctl: cannot reach the API at " << opts_.api << ": " << httplib::to_string(res.error())
                << "\n";
      std::exit(3);
    }
    json j = json::parse(res->body, nullptr, false);
    if (res->status >= 300) {
      std::string msg = (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
                            ? j["error"].get<std::string>()
                            : res->body;
      std::cerr << "fulcrumctl: " << msg << " (HTTP " << res->status << ")\n";
      std::exit(1);
    }
    if (j.is_discarded()) {
      std::cerr << "fulcrumctl: the API answered something that is not JSON\n";
      std::exit(1);
    }
    return j;
  }

 private:
  const Options& opts_;
  httplib::Client http_;
};

void print_backends(const json& vips) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : vips) {
    for (const auto& b : v["backends"]) {
      const json m = b["switches"].empty() ? json::object() : b["switches"][0]["metrics"];
      auto metric = [&](const char* k, int d) { return m.contains(k) ? num(m[k], d) : std::string("-"); };
      rows.push_back({v["name"].get<std::string>(), b["ip"].get<std::string>(), b["status"].get<std::string>(),
                      b["mode"].get<std::string>(), num(b["weight"], 0), num(b["connections"]["active"], 0),
                      num(b["connections"]["total"], 0), num(b["score"], 1), metric("cpu_pct", 0),
                      metric("memory_pct", 0), metric("rtt_ms", 2)});
    }
  }
  std::cout << table(
      {"VIP", "BACKEND", "STATUS", "MODE", "WEIGHT", "ACTIVE", "TOTAL", "SCORE", "CPU%", "MEM%", "RTT_MS"}, rows,
      {false, false, false, false, true, true, true, true, true, true, true});
}

void print_switches(const json& switches) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : switches) {
    rows.push_back({s["dpid"].is_null() ? "-" : s["dpid"].get<std::string>(), s["peer"].get<std::string>(),
                    s["version"].is_null() ? "-" : s["version"].get<std::string>(), s["state"].get<std::string>(),
                    s.contains("connections") ? num(s["connections"], 0) : "-", s["connected_at"].get<std::string>()});
  }
  std::cout << table({"DPID", "PEER", "OF", "STATE", "CONNECTIONS", "CONNECTED"}, rows,
                     {false, false, false, false, true, false});
}

void print_backend_line(const json& b) {
  std::cout << fmt::format("{} status={} mode={} weight={} active={} total={}\n", b["ip"].get<std::string>(),
                           b["status"].get<std::string>(), b["mode"].get<std::string>(), num(b["weight"], 0),
                           num(b["connections"]["active"], 0), num(b["connections"]["total"], 0));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fulcrumctl: command-line client for Fulcrum's REST API (docs/API.md)"};
  Options o;
  if (const char* env = std::getenv("FULCRUM_API")) o.api = env;
  if (const char* env = std::getenv("FULCRUM_TOKEN_FILE")) o.token_file = env;
  app.add_option("--api", o.api, "API base URL, e.g. http://127.0.0.1:8080 (env FULCRUM_API)");
  app.add_option("--token-file", o.token_file, "file holding the bearer token (env FULCRUM_TOKEN_FILE)");
  app.add_flag("--json", o.json_out, "print the API's JSON instead of a table");
  app.require_subcommand(1);

  std::string vip, ip, policy;
  uint32_t weight = 1;
  bool add_drain = false;
  auto* status = app.add_subcommand("status", "version, uptime, switches and counters");
  auto* switches = app.add_subcommand("switches", "switch connections");
  auto* vips = app.add_subcommand("vips", "VIPs with their policy and connections");
  auto* backends = app.add_subcommand("backends", "backends with state, connections and score");
  backends->add_option("vip", vip, "VIP name or address (default: all)");
  auto* drain = app.add_subcommand("drain", "take no new connection on a backend; existing ones go on");
  auto* activate = app.add_subcommand("activate", "let a drained backend take new connections again");
  auto* remove = app.add_subcommand("remove", "remove a backend (its connections go on until they end)");
  for (auto* c : {drain, activate, remove}) {
    c->add_option("vip", vip, "VIP name or address")->required();
    c->add_option("backend", ip, "backend IPv4 address")->required();
  }
  auto* weight_cmd = app.add_subcommand("weight", "set a backend's weight");
  weight_cmd->add_option("vip", vip, "VIP name or address")->required();
  weight_cmd->add_option("backend", ip, "backend IPv4 address")->required();
  weight_cmd->add_option("weight", weight, "1..1000000")->required();
  auto* add = app.add_subcommand("add", "add a backend to a VIP's pool");
  add->add_option("vip", vip, "VIP name or address")->required();
  add->add_option("backend", ip, "backend IPv4 address")->required();
  add->add_option("--weight", weight, "weight [1]");
  add->add_flag("--drain", add_drain, "add it in drain mode");
  auto* policy_cmd = app.add_subcommand("policy", "change a VIP's policy");
  policy_cmd->add_option("vip", vip, "VIP name or address")->required();
  policy_cmd->add_option("policy", policy, "round-robin, random, least-connections, ...")->required();
  CLI11_PARSE(app, argc, argv);

  Client client(o);
  const std::string vip_path = "/api/v1/vips/" + encode(vip);
  const std::string backend_path = vip_path + "/backends/" + encode(ip);
  auto out = [&](const json& j, auto human) {
    if (o.json_out) {
      std::cout << j.dump(2) << "\n";
    } else {
      human(j);
    }
  };

  if (status->parsed()) {
    out(client.call("GET", "/api/v1/status"), [](const json& j) {
      const auto& c = j["counters"];
      std::cout << fmt::format("fulcrum {} up {:.0f} s (since {}): {} switch(es), {} VIP(s), {} backend(s)\n",
                               j["version"].get<std::string>(), j["uptime_s"].get<double>(),
                               j["started"].get<std::string>(), num(j["switches_up"], 0), num(j["vips"], 0),
                               num(j["backends"], 0));
      std::cout << fmt::format(
          "packet-ins {}, decisions {}, connections active {} (ended {}), API changes since "
          "reload {}\n",
          num(c["packet_ins"], 0), num(c["connections_assigned"], 0), num(j["connections_active"], 0),
          num(c["connections_ended"], 0), num(j["api"]["changes_since_reload"], 0));
      if (j.contains("switches") && !j["switches"].empty()) print_switches(j["switches"]);
    });
  } else if (switches->parsed()) {
    out(client.call("GET", "/api/v1/switches"), [](const json& j) { print_switches(j["switches"]); });
  } else if (vips->parsed()) {
    out(client.call("GET", "/api/v1/vips"), [](const json& j) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& v : j["vips"]) {
        rows.push_back({v["name"].get<std::string>(), v["ip"].get<std::string>(), num(v["port"], 0),
                        v["protocol"].get<std::string>(), v["policy"].get<std::string>(),
                        std::to_string(v["backends"].size()), num(v["connections"]["active"], 0),
                        num(v["connections"]["total"], 0)});
      }
      std::cout << table({"VIP", "IP", "PORT", "PROTO", "POLICY", "BACKENDS", "ACTIVE", "TOTAL"}, rows,
                         {false, false, true, false, false, true, true, true});
    });
  } else if (backends->parsed()) {
    if (vip.empty()) {
      out(client.call("GET", "/api/v1/vips"), [](const json& j) { print_backends(j["vips"]); });
    } else {
      out(client.call("GET", vip_path), [](const json& j) { print_backends(json::array({j})); });
    }
  } else if (drain->parsed() || activate->parsed()) {
    out(client.call("POST", backend_path + (drain->parsed() ? "/drain" : "/activate"), json::object()),
        print_backend_line);
  } else if (weight_cmd->parsed()) {
    out(client.call("PATCH", backend_path, json{{"weight", weight}}), print_backend_line);
  } else if (add->parsed()) {
    out(client.call("POST", vip_path + "/backends",
                    json{{"ip", ip}, {"weight", weight}, {"mode", add_drain ? "drain" : "active"}}),
        print_backend_line);
  } else if (remove->parsed()) {
    out(client.call("DELETE", backend_path), [](const json& j) {
      std::cout << "removed " << j["removed"].get<std::string>() << " from " << j["vip"].get<std::string>();
      if (j.contains("backend")) {
        std::cout << "; its " << num(j["backend"]["connections"]["active"], 0) << " connection(s) go on until they end";
      }
      std::cout << "\n";
    });
  } else if (policy_cmd->parsed()) {
    out(client.call("PATCH", vip_path, json{{"policy", policy}}), [](const json& j) {
      std::cout << j["name"].get<std::string>() << " policy=" << j["policy"].get<std::string>() << "\n";
    });
  }
  return 0;
}
