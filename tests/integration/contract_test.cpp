// The recording half of the API contract test: a real trumand (its own socket and state) answers
// every documented operation, with success and error answers, and each response (method, path
// template, status, Content-Type, Allow, body) is written to build/contract-responses.json.
// tests/contract/validate.mjs then checks every one against openapi.yaml (ctest runs it after
// this test, label "contract"). This test asserts the statuses it provokes, so that a server
// that stops answering 409 or 415 fails here rather than silently recording something else.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api_test_client.hpp"
#include "local_registry.hpp"
#include "test_netns.hpp"
#include "test_support.hpp"

namespace truman::test {
namespace {

using nlohmann::json;

const std::string kTrumand = std::string(TRUMAN_BINARY_DIR) + "/bin/trumand";
const std::string kResponsesFile = std::string(TRUMAN_BINARY_DIR) + "/contract-responses.json";

// trumand on a temporary socket and state; the destructor removes its containers and stops it,
// also when the test fails half-way.
class ContractDaemon {
  public:
    ContractDaemon() : socket_(dir_.path() + "/trumand.sock") {
        std::vector<std::string> command = {kTrumand,
                                            "--socket",
                                            socket_,
                                            "--state-dir",
                                            dir_.path() + "/state",
                                            "--run-dir",
                                            dir_.path() + "/run",
                                            "--group",
                                            "truman-test-nonexistent",
                                            "--default-network",
                                            "none",
                                            "--registry-auth",
                                            dir_.path() + "/auth.json"};
        // In a network namespace of the test's own: POST /v1/networks makes a bridge.
        int netns = open(netns_.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (netns < 0) throw std::runtime_error("open " + netns_.path());
        pid_ = fork();
        if (pid_ < 0) {
            close(netns);
            throw std::runtime_error("fork");
        }
        if (pid_ == 0) {
            if (setns(netns, CLONE_NEWNET) != 0) _exit(126);
            std::vector<char*> argv;
            argv.reserve(command.size() + 1);
            for (auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            int log =
                open((dir_.path() + "/trumand.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (log >= 0) dup2(log, 2);
            execv(argv[0], argv.data());
            _exit(127);
        }
        close(netns);
        for (int i = 0; i < 2000; ++i) {
            try {
                HttpClient c(socket_);
                if (c.request("GET", "/v1/_ping").status == 200) return;
            } catch (const std::exception&) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        stop();
        throw std::runtime_error("trumand did not come up; log:\n" + log());
    }
    ~ContractDaemon() {
        try {
            HttpClient c(socket_);
            for (auto& info : json::parse(c.request("GET", "/v1/containers").body)) {
                HttpClient d(socket_);
                d.request("DELETE",
                          "/v1/containers/" + info["id"].get<std::string>() + "?force=true");
            }
        } catch (const std::exception&) {
        }
        stop();
    }
    ContractDaemon(const ContractDaemon&) = delete;
    ContractDaemon& operator=(const ContractDaemon&) = delete;

    const std::string& socket() const { return socket_; }
    const TestNetns& netns() const { return netns_; }
    const std::string& dir() const { return dir_.path(); }
    std::string log() const {
        try {
            return read_file(dir_.path() + "/trumand.log");
        } catch (...) {
            return "";
        }
    }

  private:
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        for (int i = 0; i < 2000; ++i) {
            if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    TestNetns netns_{"tmct"};    // outlives the daemon: declared first
    TempDir dir_{"trumand-ct"};  // short: the API socket path must fit sun_path
    std::string socket_;
    pid_t pid_ = -1;
};

// Every response the test provoked, keyed by the operation's path template as openapi.yaml
// spells it ("" for a path the API does not have).
class Recording {
  public:
    void add(const std::string& method, const std::string& path_template, const std::string& target,
             const HttpResponse& r) {
        entries_.push_back({{"method", method},
                            {"path", path_template},
                            {"target", target},
                            {"status", r.status},
                            {"content_type", r.header("content-type")},
                            {"allow", r.header("allow")},
                            {"body", r.body}});
    }
    size_t size() const { return entries_.size(); }

    // Written whole and renamed into place: the validator never reads half a recording.
    void write(const std::string& path) const {
        std::string temp = path + ".tmp";
        {
            std::ofstream out(temp, std::ios::trunc);
            out << entries_.dump(1, ' ', false, json::error_handler_t::replace) << "\n";
            if (!out.flush()) throw std::runtime_error("cannot write " + temp);
        }
        std::filesystem::rename(temp, path);
    }

  private:
    json entries_ = json::array();
};

class ContractTest : public ::testing::Test {
  protected:
    void TearDown() override {
        if (HasFailure()) std::cerr << "trumand log:\n" << daemon_.log();
    }

    // One request on a fresh connection (streams and some errors end theirs), recorded.
    HttpResponse call(const std::string& method, const std::string& path_template,
                      const std::string& target, const std::string& body = "",
                      const std::string& content_type = "application/json") {
        HttpClient c(daemon_.socket());
        HttpResponse r = c.request(method, target, body, content_type);
        recording_.add(method, path_template, target, r);
        return r;
    }
    // The same, with the status the scenario expects.
    HttpResponse expect(int status, const std::string& method, const std::string& path_template,
                        const std::string& target, const std::string& body = "",
                        const std::string& content_type = "application/json") {
        HttpResponse r = call(method, path_template, target, body, content_type);
        EXPECT_EQ(r.status, status) << method << " " << target << ": " << r.body;
        return r;
    }
    std::string create(const std::vector<std::string>& cmd, const std::string& name) {
        json body = {
            {"rootfs", busybox_rootfs()}, {"cmd", cmd}, {"network", "none"}, {"name", name}};
        auto r = expect(201, "POST", "/v1/containers", "/v1/containers", body.dump());
        if (r.status != 201) throw std::runtime_error("create failed: " + r.body);
        return json::parse(r.body)["id"];
    }

    ContractDaemon daemon_;
    Recording recording_;
};

TEST_F(ContractTest, RecordsEveryOperationWithSuccessAndErrorAnswers) {
    const std::string c = "/v1/containers";
    const std::string one = "/v1/containers/{id}";
    std::filesystem::remove(kResponsesFile);  // a failed run leaves no stale recording behind

    // The event stream is opened first so that it sees this test's containers come and go.
    HttpClient events(daemon_.socket());
    events.send("GET", "/v1/events");
    HttpResponse events_head = events.read_head();
    ASSERT_EQ(events_head.status, 200);

    expect(200, "GET", "/v1/_ping", "/v1/_ping");
    expect(400, "GET", "/v1/_ping", "/v1/_ping?verbose=1");
    expect(200, "GET", "/v1/version", "/v1/version");
    expect(400, "GET", "/v1/version", "/v1/version?x=1");
    expect(200, "GET", "/v1/info", "/v1/info");
    expect(400, "GET", "/v1/info", "/v1/info?x=1");

    // Create: success, and each way a create can be refused.
    std::string echo_name = unique_name("contract-echo");
    std::string echo = create({"sh", "-c", "echo out; echo err >&2"}, echo_name);
    json duplicate = {{"rootfs", busybox_rootfs()}, {"cmd", {"true"}}, {"name", echo_name}};
    expect(409, "POST", c, c, duplicate.dump());
    expect(400, "POST", c, c, R"({"rootfs":"/x","cmd":"echo"})");
    expect(400, "POST", c, c, "{not json");
    expect(400, "POST", c, c + "?x=1", "{}");
    expect(415, "POST", c, c, "{}", "text/plain");
    {
        // Content-Length alone is refused; the body need not be sent.
        HttpClient big(daemon_.socket());
        big.send_raw(
            "POST /v1/containers HTTP/1.1\r\nHost: truman\r\n"
            "Content-Type: application/json\r\nContent-Length: " +
            std::to_string((1 << 20) + 1) + "\r\n\r\n");
        HttpResponse r = big.read_response();
        recording_.add("POST", c, c, r);
        EXPECT_EQ(r.status, 413);
    }

    // List and inspect.
    expect(200, "GET", c, c);
    expect(200, "GET", c, c + "?state=created");
    expect(400, "GET", c, c + "?state=sleeping");
    expect(200, "GET", one, c + "/" + echo_name);  // created: exit_code null, pid 0
    expect(404, "GET", one, c + "/no-such-container");
    expect(400, "GET", one, c + "/" + echo_name + "?x=1");

    // Start, wait, start again, logs.
    expect(204, "POST", one + "/start", c + "/" + echo + "/start");
    expect(404, "POST", one + "/start", c + "/no-such-container/start");
    expect(400, "POST", one + "/start", c + "/" + echo + "/start?x=1");
    expect(200, "POST", one + "/wait", c + "/" + echo + "/wait");
    expect(404, "POST", one + "/wait", c + "/no-such-container/wait");
    expect(400, "POST", one + "/wait", c + "/" + echo + "/wait?x=1");
    expect(409, "POST", one + "/start", c + "/" + echo + "/start");
    expect(200, "GET", one, c + "/" + echo);  // exited
    std::string logs = one + "/logs";
    auto text = expect(200, "GET", logs, c + "/" + echo + "/logs");
    EXPECT_EQ(text.body, "out\nerr\n");
    expect(200, "GET", logs, c + "/" + echo + "/logs?timestamps=true&tail=1");
    auto lines = expect(200, "GET", logs, c + "/" + echo + "/logs?format=json");
    EXPECT_EQ(std::count(lines.body.begin(), lines.body.end(), '\n'), 2) << lines.body;
    expect(200, "GET", logs, c + "/" + echo + "/logs?format=json&follow=true&stderr=false");
    expect(400, "GET", logs, c + "/" + echo + "/logs?format=xml");
    expect(400, "GET", logs, c + "/" + echo + "/logs?tail=-1");
    expect(404, "GET", logs, c + "/no-such-container/logs");

    // Kill: a running container, a bad signal, an exited one, a missing one.
    std::string sleeper = create({"sleep", "1000"}, unique_name("contract-kill"));
    expect(204, "POST", one + "/start", c + "/" + sleeper + "/start");
    expect(200, "GET", one, c + "/" + sleeper);  // running: a pid, no exit code yet
    expect(200, "GET", c, c + "?state=running");
    expect(400, "POST", one + "/kill", c + "/" + sleeper + "/kill?signal=SIGNOPE");
    expect(409, "DELETE", one, c + "/" + sleeper);  // running, no force
    expect(204, "POST", one + "/kill", c + "/" + sleeper + "/kill?signal=KILL");
    auto killed = expect(200, "POST", one + "/wait", c + "/" + sleeper + "/wait");
    EXPECT_EQ(json::parse(killed.body)["signal"], SIGKILL);
    expect(409, "POST", one + "/kill", c + "/" + sleeper + "/kill");
    expect(404, "POST", one + "/kill", c + "/no-such-container/kill");

    // Stop: a sleeping init ignores SIGTERM (pid 1), so this also exercises the SIGKILL.
    std::string stopped = create({"sleep", "1000"}, unique_name("contract-stop"));
    expect(204, "POST", one + "/start", c + "/" + stopped + "/start");
    expect(400, "POST", one + "/stop", c + "/" + stopped + "/stop?timeout=-1");
    expect(204, "POST", one + "/stop", c + "/" + stopped + "/stop?timeout=1");
    expect(404, "POST", one + "/stop", c + "/no-such-container/stop");
    // Stop naming its signal (KILL ends even a pid 1), and a signal that is none; labels.
    std::string signalled = create({"sleep", "1000"}, unique_name("contract-stopsig"));
    expect(204, "POST", one + "/start", c + "/" + signalled + "/start");
    expect(400, "POST", one + "/stop", c + "/" + signalled + "/stop?signal=NOPE");
    expect(204, "POST", one + "/stop", c + "/" + signalled + "/stop?signal=KILL&timeout=30");
    expect(204, "DELETE", one, c + "/" + signalled);
    auto labelled =
        expect(201, "POST", c, c, R"({"image":"busybox","cmd":["true"],"labels":{"tier":"web"}})");
    std::string labelled_id = json::parse(labelled.body)["id"];
    auto shown_labels = expect(200, "GET", one, c + "/" + labelled_id);
    EXPECT_EQ(json::parse(shown_labels.body)["labels"]["tier"], "web") << shown_labels.body;
    expect(400, "POST", c, c, R"({"image":"busybox","labels":{"tier":1}})");
    expect(204, "DELETE", one, c + "/" + labelled_id);

    // exec: refused while not running; create, inspect, start (not detached: its output as
    // stream frames; detached: its inspect), start again; bad input.
    std::string execs_in = create({"sleep", "1000"}, unique_name("contract-exec"));
    const std::string ce = one + "/exec", ex = "/v1/exec/{id}", exs = "/v1/exec/{id}/start";
    expect(409, "POST", ce, c + "/" + execs_in + "/exec", R"({"cmd":["true"]})");
    expect(204, "POST", one + "/start", c + "/" + execs_in + "/start");
    auto made = expect(201, "POST", ce, c + "/" + execs_in + "/exec",
                       R"({"cmd":["sh","-c","echo hi; exit 2"],"env":["A=b"],"cwd":"/tmp"})");
    std::string exec_id = json::parse(made.body).value("id", "");
    expect(400, "POST", ce, c + "/" + execs_in + "/exec", R"({"cmd":[]})");
    expect(404, "POST", ce, c + "/no-such-container/exec", R"({"cmd":["true"]})");
    expect(415, "POST", ce, c + "/" + execs_in + "/exec", "x", "text/plain");
    expect(200, "GET", ex, "/v1/exec/" + exec_id);  // created: not running, pid 0
    auto output = expect(200, "POST", exs, "/v1/exec/" + exec_id + "/start");
    EXPECT_EQ(output.body, std::string("\x01\0\0\0\0\0\0\x03hi\n", 11));
    expect(409, "POST", exs, "/v1/exec/" + exec_id + "/start");
    auto finished = expect(200, "GET", ex, "/v1/exec/" + exec_id);
    EXPECT_EQ(json::parse(finished.body)["exit_code"], 2) << finished.body;
    auto sleeping =
        expect(201, "POST", ce, c + "/" + execs_in + "/exec", R"({"cmd":["sleep","1000"]})");
    std::string sleeping_id = json::parse(sleeping.body).value("id", "");
    expect(400, "POST", exs, "/v1/exec/" + sleeping_id + "/start", R"({"detach":"yes"})");
    auto detached =
        expect(200, "POST", exs, "/v1/exec/" + sleeping_id + "/start", R"({"detach":true})");
    EXPECT_EQ(json::parse(detached.body)["running"], true) << detached.body;
    expect(404, "GET", ex, "/v1/exec/no-such-exec");
    expect(404, "POST", exs, "/v1/exec/no-such-exec/start");
    // attach (and an attached exec start): upgraded to a raw stream, or a plain error.
    auto upgraded = [&](int status, const std::string& path_template, const std::string& target,
                        const std::string& body = "") {
        HttpClient u(daemon_.socket());
        u.send_raw("POST " + target +
                   " HTTP/1.1\r\nHost: truman\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                   "Content-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body);
        HttpResponse r = u.read_response();
        recording_.add("POST", path_template, target, r);
        EXPECT_EQ(r.status, status) << target << ": " << r.body;
        return r;
    };
    const std::string at = one + "/attach";
    auto attached = upgraded(101, at, c + "/" + execs_in + "/attach?stdout=1&stderr=1");
    EXPECT_EQ(attached.header("upgrade"), "tcp");
    expect(400, "POST", at, c + "/" + execs_in + "/attach?stdout=1");  // no upgrade asked for
    upgraded(400, at, c + "/" + execs_in + "/attach?stdout=1&detachKeys=ctrl-1");
    upgraded(404, at, c + "/no-such-container/attach?stdout=1");
    auto typed =
        expect(201, "POST", ce, c + "/" + execs_in + "/exec", R"({"cmd":["cat"],"stdin":true})");
    upgraded(101, exs, "/v1/exec/" + json::parse(typed.body).value("id", "") + "/start", "{}");
    upgraded(409, exs, "/v1/exec/" + exec_id + "/start", "{}");
    // resize: a terminal's window size (a container or an exec created with tty).
    const std::string rs = one + "/resize", exr = "/v1/exec/{id}/resize";
    auto tty = expect(201, "POST", "/v1/containers", "/v1/containers",
                      json({{"rootfs", busybox_rootfs()},
                            {"cmd", {"sleep", "1000"}},
                            {"network", "none"},
                            {"tty", true},
                            {"name", unique_name("contract-tty")}})
                          .dump());
    std::string tty_id = json::parse(tty.body).value("id", "");
    expect(409, "POST", rs, c + "/" + tty_id + "/resize?h=24&w=80");  // not running yet
    expect(204, "POST", one + "/start", c + "/" + tty_id + "/start");
    expect(204, "POST", rs, c + "/" + tty_id + "/resize?h=24&w=80");
    expect(400, "POST", rs, c + "/" + tty_id + "/resize?h=0&w=80");
    expect(409, "POST", rs, c + "/" + execs_in + "/resize?h=24&w=80");  // no terminal
    expect(404, "POST", rs, c + "/no-such-container/resize?h=24&w=80");
    auto tty_exec = expect(201, "POST", ce, c + "/" + execs_in + "/exec",
                           R"({"cmd":["sleep","1000"],"tty":true})");
    std::string tty_exec_id = json::parse(tty_exec.body).value("id", "");
    expect(200, "POST", exs, "/v1/exec/" + tty_exec_id + "/start", R"({"detach":true})");
    expect(204, "POST", exr, "/v1/exec/" + tty_exec_id + "/resize?h=30&w=100");
    expect(400, "POST", exr, "/v1/exec/" + tty_exec_id + "/resize?h=30");
    expect(409, "POST", exr, "/v1/exec/" + sleeping_id + "/resize?h=30&w=100");  // no terminal
    expect(404, "POST", exr, "/v1/exec/no-such-exec/resize?h=30&w=100");
    expect(204, "DELETE", one, c + "/" + tty_id + "?force=true");
    expect(204, "DELETE", one, c + "/" + execs_in + "?force=true");
    // Seccomp denials: busybox mount is refused by the default profile.
    std::string denied =
        create({"sh", "-c", "mount -t tmpfs none /mnt; exit 0"}, unique_name("contract-seccomp"));
    std::string seccomp = one + "/seccomp";
    expect(204, "POST", one + "/start", c + "/" + denied + "/start");
    expect(200, "POST", one + "/wait", c + "/" + denied + "/wait");
    auto denials = expect(200, "GET", seccomp, c + "/" + denied + "/seccomp");
    EXPECT_NE(denials.body.find("\"mount\""), std::string::npos) << denials.body;
    expect(200, "GET", seccomp,
           c + "/" + denied + "/seccomp?follow=true&tail=1&since=2020-01-01T00:00:00Z");
    expect(400, "GET", seccomp, c + "/" + denied + "/seccomp?since=yesterday");
    expect(404, "GET", seccomp, c + "/no-such-container/seccomp");
    expect(204, "DELETE", one, c + "/" + denied);

    // Seccomp learning: a learning container's profile, taken as is by create; the refusals.
    std::string profile = one + "/seccomp/profile";
    json learn_body = {{"rootfs", busybox_rootfs()},
                       {"cmd", {"ls", "/"}},
                       {"network", "none"},
                       {"seccomp", {{"learn", true}}}};
    std::string learner = json::parse(expect(201, "POST", c, c, learn_body.dump()).body)["id"];
    expect(204, "POST", one + "/start", c + "/" + learner + "/start");
    expect(200, "POST", one + "/wait", c + "/" + learner + "/wait");
    auto learned = expect(200, "GET", profile, c + "/" + learner + "/seccomp/profile");
    json learned_body = {{"rootfs", busybox_rootfs()},
                         {"cmd", {"ls", "/"}},
                         {"network", "none"},
                         {"seccomp", json::parse(learned.body)}};
    std::string relearned = json::parse(expect(201, "POST", c, c, learned_body.dump()).body)["id"];
    expect(409, "GET", profile, c + "/" + relearned + "/seccomp/profile");
    expect(404, "GET", profile, c + "/no-such-container/seccomp/profile");
    expect(400, "GET", profile, c + "/" + learner + "/seccomp/profile?x=1");
    learn_body["seccomp"] = {{"learn", "yes"}};
    expect(400, "POST", c, c, learn_body.dump());
    expect(204, "DELETE", one, c + "/" + learner);
    expect(204, "DELETE", one, c + "/" + relearned);

    // Delete, also with force, and again.
    expect(204, "DELETE", one, c + "/" + echo);
    expect(404, "DELETE", one, c + "/" + echo);
    expect(204, "DELETE", one, c + "/" + sleeper + "?force=true");
    expect(400, "DELETE", one, c + "/" + stopped + "?force=maybe");
    expect(204, "DELETE", one, c + "/" + stopped);

    // Networks: create (and each refusal), list, inspect, a container on one, delete.
    const std::string n = "/v1/networks", net = "/v1/networks/{name}";
    expect(201, "POST", n, n, R"({"name":"ct-net","subnet":"192.0.2.0/24","labels":{"a":"b"}})");
    expect(409, "POST", n, n, R"({"name":"ct-net"})");
    expect(409, "POST", n, n, R"({"name":"ct-other","subnet":"192.0.2.128/25"})");
    expect(400, "POST", n, n, R"({"name":"ct-other","subnet":"192.0.2.1/24"})");
    expect(400, "POST", n, n, R"({"name":"ct-other","bogus":true})");
    expect(415, "POST", n, n, "{}", "text/plain");
    expect(200, "GET", n, n);
    expect(404, "GET", net, n + "/no-such-network");
    json on_net = {{"rootfs", busybox_rootfs()},
                   {"cmd", {"true"}},
                   {"networks", {json{{"name", "ct-net"}, {"ip", "192.0.2.10"}}}}};
    auto joined = expect(201, "POST", c, c, on_net.dump());
    expect(409, "POST", c, c, on_net.dump());  // the address is taken
    on_net["networks"] = {"no-such-network"};
    expect(404, "POST", c, c, on_net.dump());
    // Names: aliases on a network, dns servers, search, options and extra hosts.
    json named = {{"rootfs", busybox_rootfs()},
                  {"cmd", {"true"}},
                  {"dns", {"192.0.2.53"}},
                  {"dns_search", {"example.test"}},
                  {"dns_options", {"ndots:2"}},
                  {"extra_hosts", {"db:192.0.2.7"}},
                  {"networks", {json{{"name", "ct-net"}, {"aliases", {"www"}}}}}};
    auto named_c = expect(201, "POST", c, c, named.dump());
    expect(204, "DELETE", one, c + "/" + json::parse(named_c.body).value("id", ""));
    named["dns"] = {"not-an-ip"};
    expect(400, "POST", c, c, named.dump());
    std::string joined_id = json::parse(joined.body).value("id", "");
    // connect/disconnect: a container on the network already, an unknown one, bad bodies.
    const std::string conn = "/v1/networks/{name}/connect", disc = "/v1/networks/{name}/disconnect";
    expect(409, "POST", conn, n + "/ct-net/connect", R"({"container":")" + joined_id + "\"}");
    expect(404, "POST", conn, n + "/ct-net/connect", R"({"container":"no-such-container"})");
    expect(400, "POST", conn, n + "/ct-net/connect", R"({"container":"x","bogus":1})");
    expect(415, "POST", conn, n + "/ct-net/connect", "{}", "text/plain");
    expect(404, "POST", disc, n + "/ct-net/disconnect", R"({"container":"no-such-container"})");
    expect(400, "POST", disc, n + "/ct-net/disconnect", R"({})");
    auto shown = expect(200, "GET", one, c + "/" + joined_id);
    EXPECT_EQ(json::parse(shown.body)["networks"][0]["address"], "192.0.2.10/24") << shown.body;
    expect(200, "GET", net, n + "/ct-net");  // lists the container
    // Published ports: one chosen by trumand, the same one again (409), a bad one (400).
    json published = {
        {"rootfs", busybox_rootfs()},
        {"cmd", {"true"}},
        {"networks", {"ct-net"}},
        {"ports",
         {json{{"host_port", 0}, {"container_port", 80}}, json{{"host_port", 18080},
                                                               {"host_port_end", 18081},
                                                               {"container_port", 80},
                                                               {"container_port_end", 81},
                                                               {"proto", "udp"}}}}};
    auto with_ports = expect(201, "POST", c, c, published.dump());
    published["ports"] = {json{{"host_port", 18080}, {"container_port", 80}, {"proto", "udp"}}};
    expect(409, "POST", c, c, published.dump());
    published["ports"] = {json{{"host_port", 70000}, {"container_port", 80}}};
    expect(400, "POST", c, c, published.dump());
    std::string ports_id = json::parse(with_ports.body).value("id", "");
    auto ports_shown = expect(200, "GET", one, c + "/" + ports_id);
    EXPECT_NE(json::parse(ports_shown.body)["ports"][0]["host_port"], 0) << ports_shown.body;
    expect(204, "DELETE", one, c + "/" + ports_id);
    expect(409, "DELETE", net, n + "/ct-net");
    expect(204, "DELETE", one, c + "/" + joined_id);
    expect(204, "DELETE", net, n + "/ct-net");
    expect(404, "DELETE", net, n + "/ct-net");
    // Images: the built-in busybox, refusals, and a pull whose registry is not there (a port
    // on 127.0.0.1 nobody listens on): its stream ends with the failure.
    const std::string images = "/v1/images", image = "/v1/images/{ref}";
    expect(200, "GET", images, images);
    expect(400, "GET", images, images + "?all=1");
    expect(200, "GET", image, images + "/busybox");
    expect(404, "GET", image, images + "/no-such-image");
    expect(400, "GET", image, images + "/Bad..Ref");
    expect(404, "DELETE", image, images + "/no-such-image");
    expect(400, "DELETE", image, images + "/busybox?force=maybe");
    expect(400, "POST", images + "/pull", images + "/pull");
    expect(400, "POST", images + "/pull", images + "/pull?ref=Bad..Ref");
    expect(400, "POST", images + "/pull", images + "/pull?ref=x&platform=linux");
    auto failed_pull =
        expect(200, "POST", images + "/pull", images + "/pull?ref=127.0.0.1:1/none:1");
    EXPECT_NE(failed_pull.body.find("\"failed\""), std::string::npos) << failed_pull.body;
    // Tag: another name for busybox, refusals, and the new name removed again.
    const std::string tag = image + "/tag";
    auto tagged = expect(201, "POST", tag, images + "/busybox/tag?tag=truman.test/mine:1");
    EXPECT_NE(tagged.body.find("truman.test/mine:1"), std::string::npos) << tagged.body;
    expect(404, "POST", tag, images + "/no-such-image/tag?tag=truman.test/mine:2");
    // Export and import: busybox out as an OCI layout, back in under another name; refusals.
    const std::string exported = "/v1/images/{ref}/export", imported = "/v1/images/import";
    auto tar = expect(200, "GET", exported, images + "/busybox/export");
    expect(404, "GET", exported, images + "/no-such-image/export");
    expect(400, "GET", exported, images + "/busybox/export?x=1");
    auto in = expect(200, "POST", imported, imported + "?tag=truman.test/imported:1", tar.body,
                     "application/x-tar");
    // The export names busybox as every tag it has now (truman.test/mine:1 too); ?tag= adds one.
    json tags = json::parse(in.body)["images"][0]["tags"];
    EXPECT_EQ(tags, json::array({"docker.io/library/busybox:latest", "truman.test/imported:1",
                                 "truman.test/mine:1"}))
        << in.body;
    expect(204, "DELETE", image, images + "/truman.test/imported:1");
    expect(400, "POST", imported, imported, "not a tar", "application/x-tar");
    // Refused before the body is read (trumand answers and closes): a short body will do.
    expect(400, "POST", imported, imported + "?tag=Bad..Ref", "x", "application/x-tar");
    expect(400, "POST", imported, imported + "?bogus=1", "x", "application/x-tar");
    expect(400, "POST", tag, images + "/busybox/tag?tag=Bad..Ref");
    expect(400, "POST", tag, images + "/busybox/tag");
    expect(204, "DELETE", image, images + "/truman.test/mine:1");
    // Login: refusals of the body, and a registry nobody listens on (a port on 127.0.0.1);
    // logout of a registry there are no credentials for.
    const std::string auth = "/v1/auth", auth_one = "/v1/auth/{registry}";
    json login = {{"registry", "127.0.0.1:1"}, {"username", "u"}, {"password", "p"}};
    expect(500, "POST", auth, auth, login.dump());
    expect(415, "POST", auth, auth, login.dump(), "text/plain");
    expect(400, "POST", auth, auth, "{");
    expect(400, "POST", auth, auth, json{{"registry", "127.0.0.1:1"}, {"username", "u"}}.dump());
    json extra = login;
    extra["email"] = "x@example.com";
    expect(400, "POST", auth, auth, extra.dump());
    json bad_registry = login;
    bad_registry["registry"] = "no-dot";
    expect(400, "POST", auth, auth, bad_registry.dump());
    json colon_user = login;
    colon_user["username"] = "a:b";
    expect(400, "POST", auth, auth, colon_user.dump());
    expect(404, "DELETE", auth_one, auth + "/127.0.0.1:1");
    expect(400, "DELETE", auth_one, auth + "/no-dot");
    {
        // A registry behind htpasswd basic auth, on 127.0.0.1:5000 of trumand's namespace:
        // a wrong password is refused (400), the right one kept (200) and removed at logout.
        ASSERT_EQ(daemon_.netns().run("ip link set lo up"), 0);
        RegistryOptions basic = htpasswd_auth(daemon_.dir(), "tester", "s3cret");
        basic.netns = daemon_.netns().path();
        LocalRegistry registry(daemon_.dir() + "/registry", basic);
        json to_registry = {
            {"registry", registry.host()}, {"username", "tester"}, {"password", "wrong"}};
        auto refused = expect(400, "POST", auth, auth, to_registry.dump());
        EXPECT_NE(refused.body.find("refused"), std::string::npos) << refused.body;
        to_registry["password"] = "s3cret";
        auto kept = expect(200, "POST", auth, auth, to_registry.dump());
        EXPECT_EQ(json::parse(kept.body)["status"], "Login Succeeded") << kept.body;
        json file = json::parse(read_file(daemon_.dir() + "/auth.json"));
        EXPECT_TRUE(file["auths"].contains(registry.host())) << file.dump();
        expect(204, "DELETE", auth_one, auth + "/" + registry.host());
        expect(404, "DELETE", auth_one, auth + "/" + registry.host());
        file = json::parse(read_file(daemon_.dir() + "/auth.json"));
        EXPECT_FALSE(file["auths"].contains(registry.host())) << file.dump();
    }

    // Methods and paths the API does not have.
    expect(405, "PUT", c, c, "{}");
    expect(405, "POST", "/v1/_ping", "/v1/_ping");
    expect(405, "GET", one + "/start", c + "/" + echo + "/start");
    expect(404, "GET", "", "/v1/no-such-thing");

    // The events so far, up to the last container's destroy; then the client goes away.
    // nlohmann orders keys, so the line is searched for as parsed JSON, not as text.
    auto saw_last_destroy = [&](const std::string& text) {
        size_t begin = 0, end;
        while ((end = text.find('\n', begin)) != std::string::npos) {
            json event = json::parse(text.substr(begin, end - begin));
            if (event["type"] == "destroy" && event["id"] == stopped) return true;
            begin = end + 1;
        }
        return false;
    };
    std::string stream, chunk;
    while (!saw_last_destroy(stream)) {
        ASSERT_TRUE(events.read_chunk(&chunk, 30000)) << "event stream ended early: " << stream;
        stream += chunk;
    }
    events_head.body = stream;
    recording_.add("GET", "/v1/events", "/v1/events", events_head);

    ASSERT_FALSE(HasFailure()) << "not writing a recording of an unexpected conversation";
    recording_.write(kResponsesFile);
    std::cout << "recorded " << recording_.size() << " responses in " << kResponsesFile << "\n";
}

}  // namespace
}  // namespace truman::test
