// Load generator for `foldback serve` (docs/benchmarks.md, "foldback serve"):
// N keep-alive connections, each on its own thread, sending a mix of
// searches, asks and feedback for S seconds, with latency percentiles per
// route, statuses, a wall check on every search and ask result, and the
// ids of acknowledged feedback records (to compare with the log after a
// restart). Also the in-process baseline: the same searches through
// SearchAndRerank on the same index, without HTTP.
//
//   serve_load --port 8080 --users alice:TOKEN:matter-a,bob:TOKEN:matter-b
//              --queries queries.jsonl --connections 200 --seconds 60
//              --mix search:80,ask:10,feedback:10 --mode bm25 [--check-walls] [--acked FILE]
//              [--search-params feedback=false]   (appended to every search's query)
//   serve_load --in-process INDEX_DIR --queries queries.jsonl --mode bm25 --seconds 10
//              [--threads 2] [--matters matter-a] [--walls matter-a/matter-b/*] [--per-query N]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "foldback/rerank.h"
#include "foldback/search.h"
#include "host/index_dir.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct User {
  std::string name, token;
  std::set<std::string> matters;   // "*" = all
  std::string trace_id, chunk_id;  // for feedback
};

struct Args {
  int port = 8080;
  std::vector<User> users;
  std::vector<std::string> queries;
  int connections = 16;
  double seconds = 10;
  std::map<std::string, int> mix = {{"search", 100}};
  std::string mode = "bm25";
  int top_k = 10;
  bool check_walls = false;
  std::string acked_path;
  std::string in_process;
  int threads = 1;
  std::string matters;
  std::string search_params;  // e.g. "feedback=false"
  int per_query = 0;  // > 0: time each query alone, this many times
  // In process: walls taken in turn, one per search ("matter-a/matter-b/*":
  // the three users of the HTTP runs); empty: --matters for every search.
  std::string walls;
};

std::string UrlEncode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// One keep-alive HTTP/1.1 connection.
class Conn {
 public:
  explicit Conn(int port) : port_(port) {}
  ~Conn() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  // Sends one request, reads one response. False on a connection failure.
  bool Do(const std::string& request, int* status, std::string* body) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !Connect()) return false;
      if (SendAll(request) && Read(status, body)) return true;
      Close();  // the server closed a kept-alive connection: once more
    }
    return false;
  }

 private:
  bool Connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      Close();
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return true;
  }
  bool SendAll(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  bool Fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  bool Read(int* status, std::string* body) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    std::string head = buf_.substr(0, end);
    *status = std::atoi(head.c_str() + 9);
    size_t length = 0;
    bool close = false;
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    size_t cl = lower.find("\r\ncontent-length:");
    if (cl != std::string::npos) length = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
    if (lower.find("\r\nconnection: close") != std::string::npos) close = true;
    while (buf_.size() < end + 4 + length) {
      if (!Fill()) return false;
    }
    body->assign(buf_, end + 4, length);
    buf_.erase(0, end + 4 + length);
    if (close) Close();
    return true;
  }
  int port_;
  int fd_ = -1;
  std::string buf_;
};

struct Sample {
  std::string route;
  int status;
  double ms;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

bool Allowed(const User& u, const std::string& matter) {
  return u.matters.count("*") || u.matters.count(matter);
}

int RunInProcess(const Args& a) {
  auto index = foldback::host::OpenIndex(a.in_process, false);
  if (!index.ok()) {
    std::fprintf(stderr, "%s\n", index.status().ToString().c_str());
    return 1;
  }
  foldback::SearchOptions so;
  foldback::ParseSearchMode(a.mode, &so.mode);
  so.top_k = a.top_k;
  if (!a.matters.empty()) {
    std::set<std::string> m;
    std::stringstream ss(a.matters);
    std::string item;
    while (std::getline(ss, item, ',')) m.insert(item);
    so.allowed_matters = m;
  }
  if (a.per_query > 0) {
    // Each query alone, one thread: which queries cost what.
    foldback::RerankOptions ro;
    for (const std::string& q : a.queries) {
      std::vector<double> v;
      size_t n = 0;
      for (int r = 0; r < a.per_query; ++r) {
        auto s0 = Clock::now();
        auto hits = foldback::SearchAndRerank(**index, nullptr, q, so, nullptr, ro);
        v.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
        if (hits.ok()) n = hits->size();
      }
      std::printf("%8.3f ms  %zu hits  %.60s\n", Percentile(v, 0.5), n, q.c_str());
    }
    return 0;
  }
  std::vector<foldback::SearchOptions> walled;  // one per wall, taken in turn
  if (!a.walls.empty()) {
    std::stringstream ws(a.walls);
    std::string wall;
    while (std::getline(ws, wall, '/')) {
      foldback::SearchOptions w = so;
      if (wall == "*") {
        w.allowed_matters.reset();
      } else {
        std::set<std::string> m;
        std::stringstream ms(wall);
        std::string item;
        while (std::getline(ms, item, '+')) m.insert(item);
        w.allowed_matters = m;
      }
      walled.push_back(w);
    }
  }
  if (walled.empty()) walled.push_back(so);
  std::vector<std::vector<double>> lat(a.threads);
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int t = 0; t < a.threads; ++t) {
    ts.emplace_back([&, t] {
      size_t i = t;
      foldback::RerankOptions ro;
      while (!stop) {
        auto s0 = Clock::now();
        const foldback::SearchOptions& o = walled[i % walled.size()];
        auto hits = foldback::SearchAndRerank(**index, nullptr, a.queries[i++ % a.queries.size()],
                                              o, nullptr, ro);
        lat[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  stop = true;
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  size_t n = all.size();
  double mean = 0;
  for (double x : all) mean += x;
  mean /= std::max<size_t>(1, n);
  std::printf(
      "in-process %s top_k=%d threads=%d walls=%s: %zu searches, %.0f /s, mean %.3f ms, p50 %.3f "
      "ms, p95 "
      "%.3f ms, p99 %.3f ms\n",
      a.mode.c_str(), a.top_k, a.threads,
      a.walls.empty() ? (a.matters.empty() ? "*" : a.matters.c_str()) : a.walls.c_str(), n,
      n / secs, mean, Percentile(all, 0.5), Percentile(all, 0.95), Percentile(all, 0.99));
  return 0;
}

int RunLoad(Args& a) {
  std::string mode = a.mode;
  // Each user asks once (RM3) to have a trace for its feedback.
  for (User& u : a.users) {
    Conn c(a.port);
    json body = {{"question", a.queries[0]}, {"rewrite", "rm3"}, {"hops", 1}};
    std::string b = body.dump();
    std::string req =
        "POST /v1/ask HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + u.token +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(b.size()) +
        "\r\n\r\n" + b;
    int status;
    std::string resp;
    if (!c.Do(req, &status, &resp) || status != 200) {
      std::fprintf(stderr, "setup ask for %s failed: %d %s\n", u.name.c_str(), status,
                   resp.c_str());
      return 1;
    }
    json j = json::parse(resp);
    u.trace_id = j["trace_id"];
    if (!j["results"].empty()) u.chunk_id = j["results"][0]["chunk_id"];
  }
  std::vector<std::string> routes;
  for (const auto& [route, weight] : a.mix) {
    for (int i = 0; i < weight; ++i) routes.push_back(route);
  }
  std::atomic<bool> stop{false};
  std::atomic<size_t> leaks{0}, failures{0};
  std::mutex mu;
  std::vector<Sample> samples;
  std::vector<std::string> acked;
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int t = 0; t < a.connections; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(t + 1);
      Conn c(a.port);
      std::vector<Sample> mine;
      std::vector<std::string> my_acked;
      while (!stop) {
        const User& u = a.users[rng() % a.users.size()];
        const std::string& route = routes[rng() % routes.size()];
        const std::string& q = a.queries[rng() % a.queries.size()];
        std::string req;
        if (route == "healthz") {
          req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";  // HTTP alone, no search
        } else if (route == "search") {
          req = "GET /v1/search?mode=" + mode + "&top_k=" + std::to_string(a.top_k) +
                "&q=" + UrlEncode(q) + (a.search_params.empty() ? "" : "&" + a.search_params) +
                " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + u.token +
                "\r\n\r\n";
        } else {
          std::string b;
          std::string path;
          if (route == "ask") {
            path = "/v1/ask";
            b = json({{"question", q}, {"hops", 2}, {"rewrite", "llm"}, {"mode", mode}}).dump();
          } else {
            path = "/v1/feedback";
            b = json({{"trace_id", u.trace_id}, {"rating", "up"}, {"relevant", {u.chunk_id}}})
                    .dump();
          }
          req =
              "POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + u.token +
              "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(b.size()) +
              "\r\n\r\n" + b;
        }
        int status = 0;
        std::string body;
        auto s0 = Clock::now();
        bool ok = c.Do(req, &status, &body);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - s0).count();
        if (!ok) {
          ++failures;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        mine.push_back({route, status, ms});
        if (status != 200) continue;
        if (route == "feedback") {
          size_t p = body.find("\"record_id\":\"");
          if (p != std::string::npos)
            my_acked.push_back(body.substr(p + 13, body.find('"', p + 13) - p - 13));
        } else if (a.check_walls) {
          // Search hits carry their matter (ask results do not: the
          // randomized walls test in tests/serve covers asks).
          if (route != "search") continue;
          json j = json::parse(body, nullptr, false);
          for (const auto& h : j["results"]) {
            if (!Allowed(u, h.value("matter", std::string()))) ++leaks;
          }
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      samples.insert(samples.end(), mine.begin(), mine.end());
      acked.insert(acked.end(), my_acked.begin(), my_acked.end());
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  stop = true;
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::map<std::string, std::vector<double>> lat;
  std::map<std::string, std::map<int, size_t>> statuses;
  for (const auto& s : samples) {
    lat[s.route].push_back(s.ms);
    statuses[s.route][s.status]++;
  }
  std::printf(
      "%d connections, %.1f s, mode %s, top_k %d: %zu requests, %.0f /s, %zu connection failures, "
      "%zu wall leaks\n",
      a.connections, secs, mode.c_str(), a.top_k, samples.size(), samples.size() / secs,
      failures.load(), leaks.load());
  for (auto& [route, v] : lat) {
    std::string st;
    for (const auto& [code, n] : statuses[route])
      st += " " + std::to_string(code) + ":" + std::to_string(n);
    std::printf("  %-9s %8zu  %7.0f /s  p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  statuses%s\n",
                route.c_str(), v.size(), v.size() / secs, Percentile(v, 0.5), Percentile(v, 0.95),
                Percentile(v, 0.99), st.c_str());
  }
  if (!a.acked_path.empty()) {
    std::ofstream out(a.acked_path);
    for (const auto& id : acked) out << id << "\n";
    std::printf("  %zu acknowledged feedback ids written to %s\n", acked.size(),
                a.acked_path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::string queries_path;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--port")
      a.port = std::stoi(next());
    else if (k == "--connections")
      a.connections = std::stoi(next());
    else if (k == "--seconds")
      a.seconds = std::stod(next());
    else if (k == "--mode")
      a.mode = next();
    else if (k == "--top-k")
      a.top_k = std::stoi(next());
    else if (k == "--check-walls")
      a.check_walls = true;
    else if (k == "--acked")
      a.acked_path = next();
    else if (k == "--in-process")
      a.in_process = next();
    else if (k == "--threads")
      a.threads = std::stoi(next());
    else if (k == "--walls")
      a.walls = next();
    else if (k == "--per-query")
      a.per_query = std::stoi(next());
    else if (k == "--matters")
      a.matters = next();
    else if (k == "--search-params")
      a.search_params = next();
    else if (k == "--queries")
      queries_path = next();
    else if (k == "--mix") {
      a.mix.clear();
      std::stringstream ss(next());
      std::string item;
      while (std::getline(ss, item, ','))
        a.mix[item.substr(0, item.find(':'))] = std::stoi(item.substr(item.find(':') + 1));
    } else if (k == "--users") {
      // name:token:matter1+matter2,...
      std::stringstream ss(next());
      std::string item;
      while (std::getline(ss, item, ',')) {
        User u;
        size_t c1 = item.find(':'), c2 = item.find(':', c1 + 1);
        u.name = item.substr(0, c1);
        u.token = item.substr(c1 + 1, c2 - c1 - 1);
        std::stringstream ms(item.substr(c2 + 1));
        std::string m;
        while (std::getline(ms, m, '+')) u.matters.insert(m);
        a.users.push_back(u);
      }
    } else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  std::ifstream in(queries_path);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("text")) a.queries.push_back(j["text"]);
  }
  if (a.queries.empty()) {
    std::fprintf(stderr, "no queries (--queries FILE.jsonl with a \"text\" field per line)\n");
    return 2;
  }
  if (!a.in_process.empty()) return RunInProcess(a);
  if (a.users.empty()) {
    std::fprintf(stderr, "--users name:token:matter,...\n");
    return 2;
  }
  return RunLoad(a);
}
