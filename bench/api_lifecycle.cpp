// api_lifecycle: the full life of a container through trumand's HTTP API on its Unix socket,
// as a client sees it: POST /v1/containers, POST .../start, POST .../wait, DELETE ..., each
// on one keep-alive connection per client (Boost.Beast, synchronous, no JSON library on the
// hot path: the bodies are fixed strings and only the id is picked out of the reply).
//
//   api_lifecycle [--socket PATH] [-n N] [-w WARMUP] [-c CLIENTS] [--network default|none]
//                 [--cmd ARG]... [--samples FILE] [--label TEXT]
//       N full lifecycles (in total, shared by CLIENTS threads); prints the median, p99, the
//       per-step medians and containers/s. --samples appends one line per lifecycle,
//       "total create start wait delete" in ms, so interleaved batches can be pooled.
//   api_lifecycle [--socket PATH] --hold N [--cmd ARG]...
//       create and start N containers (default cmd: sleep 1000) and leave them running.
//   api_lifecycle [--socket PATH] --remove-all
//       DELETE ?force=true every container the daemon knows (cleanup after --hold or ^C).
//   api_lifecycle [--socket PATH] --verbs N [--network none] [--label TEXT] [--samples FILE]
//       each verb timed on its own, N times, with whatever the daemon already holds: create,
//       start, inspect (GET /v1/containers/ID), delete (of the exited container; the wait between
//       start and delete is not timed) and list (GET /v1/containers). Prints median and p99
//       per verb; --samples appends "create start inspect delete list" in ms per round.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

// One keep-alive connection to trumand.
class Connection {
  public:
    explicit Connection(const std::string& path) : socket_(io_) {
        socket_.connect(asio::local::stream_protocol::endpoint(path));
    }

    // Returns the body; throws unless the status is the expected one.
    std::string call(http::verb method, const std::string& target, const std::string& body,
                     unsigned expected) {
        http::request<http::string_body> req{method, target, 11};
        req.set(http::field::host, "localhost");
        if (!body.empty()) {
            req.set(http::field::content_type, "application/json");
            req.body() = body;
        }
        req.prepare_payload();
        http::write(socket_, req);
        http::response<http::string_body> res;
        http::read(socket_, buffer_, res);
        if (res.result_int() != expected)
            throw std::runtime_error(std::string(http::to_string(method)) + " " + target + ": " +
                                     std::to_string(res.result_int()) + " " + res.body());
        if (!res.keep_alive()) throw std::runtime_error(target + ": server closed the connection");
        return res.body();
    }

  private:
    asio::io_context io_;
    asio::local::stream_protocol::socket socket_;
    beast::flat_buffer buffer_;
};

// The value of "key":"..." in a flat JSON reply; enough for {"id":"..."} and the list.
std::vector<std::string> string_values(const std::string& json, const std::string& key) {
    std::vector<std::string> out;
    std::string needle = "\"" + key + "\":\"";
    for (size_t at = json.find(needle); at != std::string::npos; at = json.find(needle, at)) {
        at += needle.size();
        size_t end = json.find('"', at);
        if (end == std::string::npos) break;
        out.push_back(json.substr(at, end - at));
        at = end;
    }
    return out;
}

std::string create_body(const std::vector<std::string>& cmd, const std::string& network) {
    std::string body = R"({"image":"busybox","cmd":[)";
    for (size_t i = 0; i < cmd.size(); ++i) body += (i ? ",\"" : "\"") + cmd[i] + "\"";
    body += "]";
    if (network != "default") body += R"(,"network":{"mode":")" + network + "\"}";
    return body + "}";
}

struct Sample {
    double total, create, start, wait, remove;
};

Sample lifecycle(Connection& c, const std::string& body) {
    auto t0 = Clock::now();
    auto ids = string_values(c.call(http::verb::post, "/v1/containers", body, 201), "id");
    if (ids.empty()) throw std::runtime_error("create: no id in the reply");
    std::string path = "/v1/containers/" + ids[0];
    auto t1 = Clock::now();
    c.call(http::verb::post, path + "/start", "", 204);
    auto t2 = Clock::now();
    std::string status = c.call(http::verb::post, path + "/wait", "", 200);
    auto t3 = Clock::now();
    c.call(http::verb::delete_, path, "", 204);
    auto t4 = Clock::now();
    if (status.find("\"exit_code\":0") == std::string::npos)
        throw std::runtime_error("container " + ids[0] + " did not exit 0: " + status);
    return {ms(t4 - t0), ms(t1 - t0), ms(t2 - t1), ms(t3 - t2), ms(t4 - t3)};
}

int remove_all(const std::string& socket) {
    Connection c(socket);
    auto ids = string_values(c.call(http::verb::get, "/v1/containers", "", 200), "id");
    for (const auto& id : ids)
        c.call(http::verb::delete_, "/v1/containers/" + id + "?force=true", "", 204);
    std::printf("removed %zu containers\n", ids.size());
    return 0;
}

int hold(const std::string& socket, int n, const std::vector<std::string>& cmd,
         const std::string& network) {
    Connection c(socket);
    std::string body = create_body(cmd, network);
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
        auto ids = string_values(c.call(http::verb::post, "/v1/containers", body, 201), "id");
        if (ids.empty()) throw std::runtime_error("create: no id in the reply");
        c.call(http::verb::post, "/v1/containers/" + ids[0] + "/start", "", 204);
    }
    std::printf("%d containers running (%.1f s to create and start them)\n", n,
                ms(Clock::now() - t0) / 1000);
    return 0;
}

// Every verb of its own: what a daemon holding many containers costs each request.
int verbs(const std::string& socket, int n, const std::vector<std::string>& cmd,
          const std::string& network, const std::string& label, const std::string& samples_file) {
    Connection c(socket);
    std::string body = create_body(cmd, network);
    std::vector<double> create, start, inspect, del, list;
    std::ofstream out;
    if (!samples_file.empty()) out.open(samples_file, std::ios::app);
    for (int i = 0; i < n + 5; ++i) {  // the first 5 warm up
        auto t0 = Clock::now();
        auto ids = string_values(c.call(http::verb::post, "/v1/containers", body, 201), "id");
        if (ids.empty()) throw std::runtime_error("create: no id in the reply");
        std::string path = "/v1/containers/" + ids[0];
        auto t1 = Clock::now();
        c.call(http::verb::post, path + "/start", "", 204);
        auto t2 = Clock::now();
        c.call(http::verb::get, path, "", 200);
        auto t3 = Clock::now();
        std::string status = c.call(http::verb::post, path + "/wait", "", 200);
        if (status.find("\"exit_code\":0") == std::string::npos)
            throw std::runtime_error("container " + ids[0] + " did not exit 0: " + status);
        auto t4 = Clock::now();
        c.call(http::verb::delete_, path, "", 204);
        auto t5 = Clock::now();
        c.call(http::verb::get, "/v1/containers", "", 200);
        auto t6 = Clock::now();
        if (i < 5) continue;
        create.push_back(ms(t1 - t0));
        start.push_back(ms(t2 - t1));
        inspect.push_back(ms(t3 - t2));
        del.push_back(ms(t5 - t4));
        list.push_back(ms(t6 - t5));
        if (out)
            out << create.back() << ' ' << start.back() << ' ' << inspect.back() << ' '
                << del.back() << ' ' << list.back() << '\n';
    }
    std::printf("%s%sverbs, network %s, n=%d, median (p99) ms:", label.c_str(),
                label.empty() ? "" : ": ", network.c_str(), n);
    const std::pair<const char*, const std::vector<double>*> all[] = {{"create", &create},
                                                                      {"start", &start},
                                                                      {"inspect", &inspect},
                                                                      {"delete", &del},
                                                                      {"list", &list}};
    for (const auto& [name, v] : all)
        std::printf("  %s %.2f (%.2f)", name, percentile(*v, .5), percentile(*v, .99));
    std::printf("\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string socket = "/run/truman.sock", network = "default", samples_file, label;
    int n = 200, warmup = 5, clients = 1, hold_n = 0, verbs_n = 0;
    bool remove = false;
    std::vector<std::string> cmd;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--socket")
            socket = value();
        else if (a == "-n")
            n = std::atoi(value().c_str());
        else if (a == "-w")
            warmup = std::atoi(value().c_str());
        else if (a == "-c")
            clients = std::max(1, std::atoi(value().c_str()));
        else if (a == "--network")
            network = value();
        else if (a == "--cmd")
            cmd.push_back(value());
        else if (a == "--samples")
            samples_file = value();
        else if (a == "--label")
            label = value();
        else if (a == "--hold")
            hold_n = std::atoi(value().c_str());
        else if (a == "--remove-all")
            remove = true;
        else if (a == "--verbs")
            verbs_n = std::atoi(value().c_str());
        else {
            std::fprintf(stderr,
                         "usage: %s [--socket PATH] [-n N] [-w WARMUP] [-c CLIENTS] "
                         "[--network default|none|loopback] [--cmd ARG]... [--samples FILE] "
                         "[--label TEXT] | --hold N | --remove-all | --verbs N\n",
                         argv[0]);
            return 2;
        }
    }
    try {
        if (remove) return remove_all(socket);
        if (hold_n > 0) {
            if (cmd.empty()) cmd = {"sleep", "1000"};
            return hold(socket, hold_n, cmd, network);
        }
        if (cmd.empty()) cmd = {"/bin/true"};
        if (verbs_n > 0) return verbs(socket, verbs_n, cmd, network, label, samples_file);
        std::string body = create_body(cmd, network);

        {  // warm-up: page cache, the seccomp cache, trumand's allocator
            Connection c(socket);
            for (int i = 0; i < warmup; ++i) lifecycle(c, body);
        }

        std::vector<std::vector<Sample>> per_client(static_cast<size_t>(clients));
        std::atomic<int> next{0};
        std::atomic<bool> failed{false};
        std::vector<std::thread> threads;
        auto t0 = Clock::now();
        for (int k = 0; k < clients; ++k)
            threads.emplace_back([&, k] {
                try {
                    Connection c(socket);
                    while (!failed && next.fetch_add(1) < n)
                        per_client[static_cast<size_t>(k)].push_back(lifecycle(c, body));
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "client %d: %s\n", k, e.what());
                    failed = true;
                }
            });
        for (auto& t : threads) t.join();
        double wall = ms(Clock::now() - t0);
        if (failed) return 1;

        std::vector<double> total, create, start, wait, del;
        std::ofstream out;
        if (!samples_file.empty()) out.open(samples_file, std::ios::app);
        for (const auto& samples : per_client)
            for (const auto& s : samples) {
                total.push_back(s.total);
                create.push_back(s.create);
                start.push_back(s.start);
                wait.push_back(s.wait);
                del.push_back(s.remove);
                if (out)
                    out << s.total << ' ' << s.create << ' ' << s.start << ' ' << s.wait << ' '
                        << s.remove << '\n';
            }
        std::printf(
            "%s%sapi lifecycle of %s, network %s, %d client%s, n=%d: median %.2f ms, p99 %.2f ms, "
            "%.1f containers/s\n",
            label.c_str(), label.empty() ? "" : ": ", cmd[0].c_str(), network.c_str(), clients,
            clients == 1 ? "" : "s", n, percentile(total, .5), percentile(total, .99),
            n / (wall / 1000));
        std::printf("  median per step: create %.2f  start %.2f  wait %.2f  delete %.2f ms\n",
                    percentile(create, .5), percentile(start, .5), percentile(wait, .5),
                    percentile(del, .5));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "api_lifecycle: %s\n", e.what());
        return 1;
    }
}
