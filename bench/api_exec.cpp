// api_exec: exec of /bin/true into a running container through trumand's API, as a client
// sees it -- POST /v1/containers/{id}/exec, POST /v1/exec/{id}/start (answered after the
// exit), GET /v1/exec/{id} for the exit code -- on one keep-alive connection; optionally
// alternating, one by one, with other commands that do the same ("crun exec ID /bin/true",
// "runc exec ID /bin/true"), each given as one string split at spaces.
//
//   api_exec --socket PATH --rootfs DIR [-n N] [-w WARMUP] [--compare 'CMD ARG...']...
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

extern char** environ;

namespace {

double ms(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

class Connection {
  public:
    explicit Connection(const std::string& path) : socket_(io_) {
        socket_.connect(asio::local::stream_protocol::endpoint(path));
    }
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
            throw std::runtime_error(target + ": " + std::to_string(res.result_int()) + " " +
                                     res.body());
        return res.body();
    }

  private:
    asio::io_context io_;
    asio::local::stream_protocol::socket socket_;
    beast::flat_buffer buffer_;
};

std::string id_of(const std::string& reply) {
    auto at = reply.find("\"id\":\"");
    if (at == std::string::npos) throw std::runtime_error("no id in " + reply);
    return reply.substr(at + 6, 64);
}

double exec_true(Connection& c, const std::string& container) {
    auto t0 = Clock::now();
    std::string id = id_of(c.call(http::verb::post, "/v1/containers/" + container + "/exec",
                                  R"({"cmd":["/bin/true"]})", 201));
    c.call(http::verb::post, "/v1/exec/" + id + "/start", "", 200);
    std::string info = c.call(http::verb::get, "/v1/exec/" + id, "", 200);
    auto t1 = Clock::now();
    if (info.find("\"exit_code\":0") == std::string::npos)
        throw std::runtime_error("exec did not exit 0: " + info);
    return ms(t1 - t0);
}

double run_command(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    auto t0 = Clock::now();
    pid_t pid;
    if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0)
        throw std::runtime_error("spawn " + argv[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    auto t1 = Clock::now();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(argv[0] + " failed");
    return ms(t1 - t0);
}

void report(const char* what, const std::vector<double>& v) {
    std::printf("%-22s n=%zu median %.2f ms  p90 %.2f ms  p99 %.2f ms\n", what, v.size(),
                percentile(v, 0.5), percentile(v, 0.9), percentile(v, 0.99));
}

}  // namespace

int main(int argc, char** argv) {
    std::string socket = "/run/truman.sock", rootfs;
    int n = 200, warmup = 20;
    std::vector<std::vector<std::string>> compare;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] {
            if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
            return std::string(argv[++i]);
        };
        if (a == "--socket")
            socket = next();
        else if (a == "--rootfs")
            rootfs = next();
        else if (a == "-n")
            n = std::stoi(next());
        else if (a == "-w")
            warmup = std::stoi(next());
        else if (a == "--compare") {
            std::istringstream words(next());
            std::vector<std::string> command;
            for (std::string w; words >> w;) command.push_back(w);
            if (command.empty()) throw std::runtime_error("--compare needs a command");
            compare.push_back(command);
        } else {
            std::fprintf(stderr,
                         "usage: api_exec --socket PATH --rootfs DIR [-n N] [-w W] "
                         "[--compare 'CMD ARG...']...\n");
            return 2;
        }
    }
    Connection c(socket);
    std::string container = id_of(
        c.call(http::verb::post, "/v1/containers",
               R"({"rootfs":")" + rootfs + R"(","cmd":["sleep","100000"],"network":"none"})", 201));
    int rc = 0;
    try {
        c.call(http::verb::post, "/v1/containers/" + container + "/start", "", 204);
        std::vector<double> truman;
        std::vector<std::vector<double>> others(compare.size());
        for (int i = 0; i < warmup + n; ++i) {
            double t = exec_true(c, container);
            std::vector<double> o;
            for (const auto& command : compare) o.push_back(run_command(command));
            if (i < warmup) continue;
            truman.push_back(t);
            for (size_t k = 0; k < o.size(); ++k) others[k].push_back(o[k]);
        }
        report("truman exec (API)", truman);
        for (size_t k = 0; k < compare.size(); ++k)
            report((compare[k][0] + " exec").c_str(), others[k]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "api_exec: %s\n", e.what());
        rc = 1;
    }
    c.call(http::verb::delete_, "/v1/containers/" + container + "?force=true", "", 204);
    return rc;
}
