// Seccomp denials a user can see, end to end through a real trumand: a container calling
// mount, unshare and keyctl in a loop (tests/payload/deny_loop.c) under the default profile;
// every denial streamed by GET /v1/containers/{id}/seccomp with its name, pid and errno; the
// log capped at 1 MiB with one rotation and a drop note; a following reader that gets the
// records as they are written; the history still there after trumand is SIGKILLed.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "test_support.hpp"
#include "truman/daemon/time_format.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kDenyLoop = std::string(TRUMAN_BINARY_DIR) + "/bin/truman-deny-loop";

// One request per connection: a stream (and some errors) ends its connection.
class Api {
  public:
    explicit Api(std::string socket) : socket_(std::move(socket)) {}
    HttpResponse request(const std::string& method, const std::string& target,
                         const std::string& body = "") {
        HttpClient c(socket_);
        return c.request(method, target, body);
    }
    const std::string& socket() const { return socket_; }

  private:
    std::string socket_;
};

// A busybox root with deny_loop as /bin/deny_loop.
class DenyRoot {
  public:
    DenyRoot() {
        make_busybox_rootfs(dir_.path());
        fs::copy_file(kDenyLoop, dir_.path() + "/bin/deny_loop",
                      fs::copy_options::overwrite_existing);
    }
    const std::string& path() const { return dir_.path(); }

  private:
    TempDir dir_{"truman-deny-root"};
};

std::string create(Api& c, const DenyRoot& root, const std::vector<std::string>& cmd) {
    json body = {{"rootfs", root.path()}, {"cmd", cmd}, {"network", "none"}};
    auto r = c.request("POST", "/v1/containers", body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body).value("id", "");
}

void run_to_exit(Api& c, const std::string& id) {
    ASSERT_EQ(c.request("POST", "/v1/containers/" + id + "/start").status, 204);
    auto waited = c.request("POST", "/v1/containers/" + id + "/wait");
    ASSERT_EQ(waited.status, 200) << waited.body;
    ASSERT_EQ(json::parse(waited.body)["exit_code"], 0) << waited.body;
}

std::vector<json> json_lines(const std::string& body) {
    std::vector<json> out;
    size_t start = 0;
    for (size_t nl; (nl = body.find('\n', start)) != std::string::npos; start = nl + 1)
        out.push_back(json::parse(body.substr(start, nl - start)));
    EXPECT_EQ(start, body.size()) << "a torn last line";
    return out;
}

std::vector<json> denials(Api& c, const std::string& id, const std::string& query = "") {
    auto r = c.request("GET", "/v1/containers/" + id + "/seccomp" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/x-ndjson");
    return json_lines(r.body);
}

// What a shell command printed on stdout.
std::string command_output(const std::string& command) {
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

// "pid 7 mount EPERM unshare EPERM keyctl EPERM" -> 7, checking the errnos the caller saw.
int payload_pid(Api& c, const std::string& id) {
    auto logs = c.request("GET", "/v1/containers/" + id + "/logs");
    EXPECT_EQ(logs.status, 200);
    int pid = 0;
    char m[16] = {}, u[16] = {}, k[16] = {};
    EXPECT_EQ(
        std::sscanf(logs.body.c_str(), "pid %d mount %15s unshare %15s keyctl %15s", &pid, m, u, k),
        4)
        << logs.body;
    EXPECT_STREQ(m, "EPERM");
    EXPECT_STREQ(u, "EPERM");
    EXPECT_STREQ(k, "EPERM");
    return pid;
}

TEST(SeccompDenials, EachDenialIsStreamedWithNamePidAndErrno) {
    TrumandProcess daemon;
    Api c(daemon.socket());
    DenyRoot root;
    const int rounds = 5;
    std::string id = create(c, root, {"/bin/deny_loop", std::to_string(rounds)});
    run_to_exit(c, id);
    int pid = payload_pid(c, id);

    auto records = denials(c, id);
    std::map<std::string, int> seen;
    for (const auto& r : records) {
        ASSERT_FALSE(r.contains("dropped")) << r;
        EXPECT_EQ(r["pid"], pid) << r;
        EXPECT_GT(r["host_pid"].get<int>(), 0) << r;
        EXPECT_EQ(r["comm"], "deny_loop") << r;
        EXPECT_EQ(r["errno"], "EPERM") << r;
        EXPECT_EQ(r["action"], "errno") << r;
        EXPECT_EQ(r["arch"], "x86_64") << r;
        EXPECT_EQ(r["args"].size(), 6U) << r;
        ++seen[r["syscall"].get<std::string>()];
    }
    // Exactly the payload's calls, in its order: nothing else the payload makes is denied.
    EXPECT_EQ(seen, (std::map<std::string, int>{
                        {"keyctl", rounds}, {"mount", rounds}, {"unshare", rounds}}));
    ASSERT_EQ(records.size(), 3U * rounds);
    EXPECT_EQ(records[0]["syscall"], "mount");
    EXPECT_EQ(records[0]["nr"], 165);  // x86_64's mount
    EXPECT_EQ(records[1]["syscall"], "unshare");
    EXPECT_EQ(records[1]["args"][0], 0x20000);  // CLONE_NEWNS
    EXPECT_EQ(records[2]["syscall"], "keyctl");

    // tail and since select; a since after the last denial selects nothing.
    auto last_two = denials(c, id, "?tail=2");
    ASSERT_EQ(last_two.size(), 2U);
    EXPECT_EQ(last_two[1], records.back());
    auto from_third = denials(c, id, "?since=" + records[2]["time"].get<std::string>());
    ASSERT_EQ(from_third.size(), records.size() - 2);
    EXPECT_EQ(from_third[0], records[2]);
    EXPECT_TRUE(denials(c, id, "?since=4000000000").empty());

    // inspect counts them by name; the list marks the container.
    auto inspected = json::parse(c.request("GET", "/v1/containers/" + id).body);
    EXPECT_EQ(inspected["seccomp_denials"],
              json({{"keyctl", rounds}, {"mount", rounds}, {"unshare", rounds}}));
    EXPECT_EQ(inspected["seccomp_denied"], true);
    for (const auto& listed : json::parse(c.request("GET", "/v1/containers").body))
        if (listed["id"] == id) {
            EXPECT_EQ(listed["seccomp_denied"], true);
        }

    // trumanctl denials prints them readably; ps -a marks the container.
    std::string ctl = std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl --socket " + daemon.socket();
    std::string printed = command_output(ctl + " denials " + id);
    EXPECT_NE(printed.find("pid " + std::to_string(pid) + " (deny_loop) mount → EPERM\n"),
              std::string::npos)
        << printed;
    EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 3 * rounds) << printed;
    std::string ps = command_output(ctl + " ps -a");
    EXPECT_NE(ps.find("(seccomp denials)"), std::string::npos) << ps;

    ASSERT_EQ(c.request("DELETE", "/v1/containers/" + id).status, 204);
    EXPECT_EQ(container_leaks(daemon, {id}), "");
}

TEST(SeccompDenials, BadRequestsAreAnsweredPlainly) {
    TrumandProcess daemon;
    Api c(daemon.socket());
    auto unknown = c.request("GET", "/v1/containers/nosuchcontainer/seccomp");
    EXPECT_EQ(unknown.status, 404) << unknown.body;
    EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "not_found");

    HttpClient creator(daemon.socket());
    auto created = create_container(creator, {"true"});
    ASSERT_EQ(created.status, 201);
    std::string id = json::parse(created.body)["id"];
    for (const char* query : {"?since=yesterday", "?since=2026-13-01T00:00:00Z", "?tail=-1",
                              "?follow=maybe", "?bogus=1"}) {
        auto r = c.request("GET", "/v1/containers/" + id + "/seccomp" + query);
        EXPECT_EQ(r.status, 400) << query << ": " << r.body;
        EXPECT_EQ(json::parse(r.body)["error"]["code"], "invalid") << query;
    }
    auto since = c.request("GET", "/v1/containers/" + id + "/seccomp?since=yesterday");
    EXPECT_NE(json::parse(since.body)["error"]["message"].get<std::string>().find("since"),
              std::string::npos);
    // A container with no denials has an empty history, not an error.
    EXPECT_TRUE(denials(c, id).empty());
    auto inspected = json::parse(c.request("GET", "/v1/containers/" + id).body);
    EXPECT_EQ(inspected["seccomp_denied"], false);
    EXPECT_EQ(inspected["seccomp_denials"], json::object());
    ASSERT_EQ(c.request("DELETE", "/v1/containers/" + id + "?force=true").status, 204);
}

TEST(SeccompDenials, AFollowingReaderGetsEachDenialAsItIsWritten) {
    TrumandProcess daemon;
    Api c(daemon.socket());
    DenyRoot root;
    const int rounds = 50;
    std::string id = create(c, root, {"/bin/deny_loop", std::to_string(rounds)});
    // Subscribed while the container is only created: every record it gets was written
    // after it subscribed, so it was pushed to it.
    HttpClient follower(daemon.socket());
    follower.send("GET", "/v1/containers/" + id + "/seccomp?follow=true");
    ASSERT_EQ(follower.read_head().status, 200);
    ASSERT_EQ(c.request("POST", "/v1/containers/" + id + "/start").status, 204);
    std::string body, chunk;
    while (follower.read_chunk(&chunk)) body += chunk;  // ends once the container has exited
    auto records = json_lines(body);
    ASSERT_EQ(records.size(), 3U * rounds);
    EXPECT_EQ(records.front()["syscall"], "mount");
    EXPECT_EQ(records.back()["syscall"], "keyctl");
    // The same history as a plain read.
    EXPECT_EQ(records, denials(c, id));
    // The stream ended on the monitor's record of the exit; the service learns of it when
    // the monitor is gone.
    ASSERT_EQ(c.request("POST", "/v1/containers/" + id + "/wait").status, 200);
    ASSERT_EQ(c.request("DELETE", "/v1/containers/" + id).status, 204);
    EXPECT_EQ(container_leaks(daemon, {id}), "");
}

TEST(SeccompDenials, LogIsCappedRotatedOnceAndSurvivesARestart) {
    TrumandProcess daemon;
    Api c(daemon.socket());
    DenyRoot root;
    // About 250 bytes a record: 12000 records are more than two files of 1 MiB.
    const int rounds = 4000;
    std::string id = create(c, root, {"/bin/deny_loop", std::to_string(rounds)});
    run_to_exit(c, id);
    std::string dir = daemon.state_dir() + "/containers/" + id;
    EXPECT_LE(fs::file_size(dir + "/seccomp.log"), 1024U * 1024);
    EXPECT_GT(fs::file_size(dir + "/seccomp.log.1"), 1000U * 1024);
    EXPECT_LE(fs::file_size(dir + "/seccomp.log.1"), 1024U * 1024);
    EXPECT_FALSE(fs::exists(dir + "/seccomp.log.2"));

    auto records = denials(c, id);
    uint64_t kept = 0, dropped = 0;
    for (const auto& r : records) {
        if (r.contains("dropped"))
            dropped = r["dropped"];  // the last note counts every denial discarded so far
        else
            ++kept;
    }
    EXPECT_GT(dropped, 0U);
    EXPECT_EQ(kept + dropped, 3U * rounds);
    // The counts stay exact across the drops.
    auto inspected = json::parse(c.request("GET", "/v1/containers/" + id).body);
    EXPECT_EQ(inspected["seccomp_denials"],
              json({{"keyctl", rounds}, {"mount", rounds}, {"unshare", rounds}}));
    EXPECT_EQ(records.back()["syscall"], "keyctl");

    daemon.kill_hard();
    daemon.start();
    Api again(daemon.socket());
    EXPECT_EQ(denials(again, id), records);
    ASSERT_EQ(again.request("DELETE", "/v1/containers/" + id).status, 204);
    EXPECT_EQ(container_leaks(daemon, {id}), "");
}

TEST(SeccompDenials, EachDenialIsAnEventAtMostTenASecond) {
    TrumandProcess daemon;
    Api c(daemon.socket());
    DenyRoot root;
    // A round every millisecond for two seconds and more: held-back denials are counted in
    // the next event, so there must be next events.
    const int rounds = 2000;
    std::string id = create(c, root, {"/bin/deny_loop", std::to_string(rounds), "1000"});
    HttpClient events(daemon.socket());
    events.send("GET", "/v1/events");
    ASSERT_EQ(events.read_head().status, 200);
    run_to_exit(c, id);
    int pid = payload_pid(c, id);

    std::vector<json> seccomp;
    std::string stream, chunk;
    bool died = false;
    size_t parsed = 0;
    while (!died) {
        ASSERT_TRUE(events.read_chunk(&chunk)) << "event stream ended early";
        stream += chunk;
        for (size_t nl; (nl = stream.find('\n', parsed)) != std::string::npos; parsed = nl + 1) {
            json event = json::parse(stream.substr(parsed, nl - parsed));
            if (event["id"] != id) continue;
            if (event["type"] == "seccomp") seccomp.push_back(event);
            died = died || event["type"] == "die";
        }
    }
    ASSERT_FALSE(seccomp.empty());
    EXPECT_EQ(seccomp.front()["suppressed"], 0);
    uint64_t represented = 0;
    bool held_back = false;
    for (const auto& e : seccomp) {
        std::string name = e["syscall"];
        EXPECT_TRUE(name == "mount" || name == "unshare" || name == "keyctl") << e;
        EXPECT_EQ(e["pid"], pid) << e;
        EXPECT_EQ(e["errno"], "EPERM") << e;
        represented += 1 + e["suppressed"].get<uint64_t>();
        held_back = held_back || e["suppressed"].get<uint64_t>() > 0;
    }
    // 6000 denials in two seconds and more: most were held back, and counted.
    EXPECT_TRUE(held_back);
    EXPECT_LE(represented, 3U * rounds);
    // At most ten in any second, by the denials' own times.
    auto seconds = [](const json& e) {
        auto t = daemon::parse_client_time(e["time"].get<std::string>());
        EXPECT_TRUE(t) << e;
        return t ? static_cast<double>(t->tv_sec) + static_cast<double>(t->tv_nsec) / 1e9 : 0.0;
    };
    for (size_t i = 10; i < seccomp.size(); ++i)
        EXPECT_GE(seconds(seccomp[i]) - seconds(seccomp[i - 10]), 1.0) << i;
    ASSERT_EQ(c.request("DELETE", "/v1/containers/" + id).status, 204);
}

TEST(SeccompDenials, AnInitKilledBySigsysIsRecordedFromItsWaitStatus) {
    TrumandProcess daemon;
    Api c(daemon.socket());
    json profile = {
        {"defaultAction", "SCMP_ACT_ALLOW"},
        {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_KILL_PROCESS"}}}}};
    json body = {{"rootfs", busybox_rootfs()},
                 {"cmd", {"mkdir", "/tmp/d"}},
                 {"network", "none"},
                 {"seccomp", profile}};
    auto created = c.request("POST", "/v1/containers", body.dump());
    ASSERT_EQ(created.status, 201) << created.body;
    std::string id = json::parse(created.body)["id"];
    ASSERT_EQ(c.request("POST", "/v1/containers/" + id + "/start").status, 204);
    auto waited = c.request("POST", "/v1/containers/" + id + "/wait");
    ASSERT_EQ(json::parse(waited.body)["signal"], SIGSYS) << waited.body;
    auto records = denials(c, id);
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0]["action"], "kill");
    EXPECT_EQ(records[0]["syscall"], "unknown");
    EXPECT_EQ(records[0]["pid"], 1);
    EXPECT_TRUE(records[0]["errno"].is_null());
    ASSERT_EQ(c.request("DELETE", "/v1/containers/" + id).status, 204);
}

}  // namespace
}  // namespace truman::test
