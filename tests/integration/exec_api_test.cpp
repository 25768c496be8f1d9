// exec through a real trumand (issue 12, step 2): POST /v1/containers/{id}/exec,
// POST /v1/exec/{id}/start, GET /v1/exec/{id}; exit codes recorded by the monitor survive a
// trumand SIGKILL; bad input answered with the right status; nothing left behind.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api_test_client.hpp"
#include "test_support.hpp"
#include "truman/stream_frame.hpp"
#include "trumand_process.hpp"

using namespace truman;
using namespace truman::test;
using nlohmann::json;

namespace {

struct Output {
    std::string out, err;
};

Output decode(const std::string& frames) {
    FrameDecoder decoder;
    decoder.feed(frames);
    Output o;
    while (auto f = decoder.next())
        (f->type == StreamType::stderr_stream ? o.err : o.out) += f->payload;
    EXPECT_EQ(decoder.pending(), 0u);
    return o;
}

class ExecApi : public ::testing::Test {
  protected:
    void SetUp() override {
        busybox_rootfs();
        daemon_ = std::make_unique<TrumandProcess>();
        client_ = std::make_unique<HttpClient>(daemon_->socket());
        container_ = running_container();
    }
    void TearDown() override {
        client_.reset();
        EXPECT_EQ(daemon_->remove_all_containers(), std::vector<std::string>{});
        EXPECT_EQ(container_leaks(*daemon_, ids_), "");
        if (HasFailure()) std::cerr << "trumand log:\n" << daemon_->log();
        daemon_.reset();
    }

    std::string running_container() {
        auto created = create_container(*client_, {"/bin/sleep", "3600"});
        EXPECT_EQ(created.status, 201) << created.body;
        std::string id = json::parse(created.body).value("id", "");
        ids_.insert(id);
        EXPECT_EQ(client_->request("POST", "/v1/containers/" + id + "/start").status, 204);
        return id;
    }

    // create + start (not detached) + inspect: the exec's inspect and its output.
    json run_exec(HttpClient& c, const json& body, Output* output = nullptr) {
        auto created = c.request("POST", "/v1/containers/" + container_ + "/exec", body.dump());
        if (created.status != 201) return {{"create", created.status}, {"body", created.body}};
        std::string id = json::parse(created.body)["id"];
        auto started = c.request("POST", "/v1/exec/" + id + "/start", "{}");
        if (started.status != 200) return {{"start", started.status}, {"body", started.body}};
        EXPECT_EQ(started.header("content-type"), "application/vnd.docker.multiplexed-stream");
        if (output) *output = decode(started.body);
        auto info = c.request("GET", "/v1/exec/" + id);
        if (info.status != 200) return {{"inspect", info.status}, {"body", info.body}};
        return json::parse(info.body);
    }

    std::unique_ptr<TrumandProcess> daemon_;
    std::unique_ptr<HttpClient> client_;
    std::string container_;
    std::set<std::string> ids_;
};

}  // namespace

TEST_F(ExecApi, HundredConcurrentExecTrueAllExitZero) {
    constexpr int kExecs = 100;
    std::vector<json> results(kExecs);
    std::vector<std::thread> threads;
    threads.reserve(kExecs);
    for (int i = 0; i < kExecs; ++i)
        threads.emplace_back([&, i] {
            try {
                HttpClient c(daemon_->socket());
                results[i] = run_exec(c, {{"cmd", {"true"}}});
            } catch (const std::exception& e) {
                results[i] = {{"error", e.what()}};
            }
        });
    for (auto& t : threads) t.join();
    std::set<std::string> ids;
    for (const json& r : results) {
        EXPECT_EQ(r.value("exit_code", json(-1)), 0) << r.dump();
        EXPECT_EQ(r.value("running", true), false) << r.dump();
        EXPECT_EQ(r.value("container_id", ""), container_) << r.dump();
        ids.insert(r.value("id", ""));
    }
    EXPECT_EQ(ids.size(), size_t{kExecs});
}

TEST_F(ExecApi, ReportsExitCodesSignalsOutputUserAndCwd) {
    Output o;
    json r = run_exec(*client_, {{"cmd", {"sh", "-c", "echo out; echo err >&2; exit 3"}}}, &o);
    EXPECT_EQ(r["exit_code"], 3) << r.dump();
    EXPECT_EQ(r["signal"], 0) << r.dump();
    EXPECT_GT(r["pid"].get<int>(), 0) << r.dump();
    EXPECT_EQ(o.out, "out\n");
    EXPECT_EQ(o.err, "err\n");

    r = run_exec(*client_, {{"cmd", {"sh", "-c", "kill -9 $$"}}});
    EXPECT_EQ(r["signal"], 9) << r.dump();
    EXPECT_EQ(r["exit_code"], 137) << r.dump();

    run_exec(*client_,
             {{"cmd", {"sh", "-c", "id -u; id -g; pwd; echo $X"}},
              {"user", "1000:1001"},
              {"cwd", "/tmp"},
              {"env", {"X=from-exec"}}},
             &o);
    EXPECT_EQ(o.out, "1000\n1001\n/tmp\nfrom-exec\n");
}

// A container that may ptrace, without a user namespace: its monitor runs from a sealed
// memfd copy of truman-monitor (a plain container's does not), and exec into it works.
TEST_F(ExecApi, IntoAContainerThatCanPtraceWorksFromASealedCopyOfTheMonitor) {
    auto monitor_exe = [&](const std::string& id) {
        json info = json::parse(client_->request("GET", "/v1/containers/" + id).body);
        std::string status =
            read_file("/proc/" + std::to_string(info["state"]["pid"].get<int>()) + "/status");
        std::string ppid = status.substr(status.find("PPid:") + 5);
        ppid = ppid.substr(ppid.find_first_not_of(" \t"));
        ppid = ppid.substr(0, ppid.find('\n'));
        std::error_code ec;
        return std::filesystem::read_symlink("/proc/" + ppid + "/exe", ec).string();
    };
    EXPECT_EQ(monitor_exe(container_).find("memfd:"), std::string::npos) << monitor_exe(container_);

    json body = {{"rootfs", busybox_rootfs()},
                 {"cmd", {"/bin/sleep", "3600"}},
                 {"network", "none"},
                 {"cap_add", {"SYS_PTRACE"}}};
    auto created = client_->request("POST", "/v1/containers", body.dump());
    ASSERT_EQ(created.status, 201) << created.body;
    container_ = json::parse(created.body)["id"];
    ids_.insert(container_);
    ASSERT_EQ(client_->request("POST", "/v1/containers/" + container_ + "/start").status, 204);
    EXPECT_EQ(monitor_exe(container_).rfind("/memfd:truman-monitor", 0), 0u)
        << monitor_exe(container_);

    Output o;
    json r =
        run_exec(*client_, {{"cmd", {"sh", "-c", "grep CapEff /proc/self/status; exit 4"}}}, &o);
    EXPECT_EQ(r["exit_code"], 4) << r.dump();
    // CAP_SYS_PTRACE (19) among its capabilities.
    EXPECT_NE(o.out.find("CapEff:\t00000000a80c25fb"), std::string::npos) << o.out;
    r = run_exec(*client_, {{"cmd", {"true"}}, {"tty", true}});
    EXPECT_EQ(r["exit_code"], 0) << r.dump();
}

TEST_F(ExecApi, ExitCodeSurvivesATrumandSigkill) {
    ASSERT_EQ(run_exec(*client_, {{"cmd", {"mkfifo", "/tmp/go"}}})["exit_code"], 0);
    auto created = client_->request("POST", "/v1/containers/" + container_ + "/exec",
                                    json{{"cmd", {"sh", "-c", "read x < /tmp/go; exit 5"}}}.dump());
    ASSERT_EQ(created.status, 201) << created.body;
    std::string id = json::parse(created.body)["id"];
    auto started =
        client_->request("POST", "/v1/exec/" + id + "/start", json{{"detach", true}}.dump());
    ASSERT_EQ(started.status, 200) << started.body;
    json info = json::parse(started.body);
    EXPECT_EQ(info["running"], true) << info.dump();
    EXPECT_EQ(info["exit_code"], nullptr) << info.dump();

    client_.reset();
    daemon_->kill_hard();
    daemon_->start();
    client_ = std::make_unique<HttpClient>(daemon_->socket());
    info = json::parse(client_->request("GET", "/v1/exec/" + id).body);
    EXPECT_EQ(info["running"], true) << info.dump();
    // Release it while trumand knows nothing of it but what is on disk.
    ASSERT_EQ(run_exec(*client_, {{"cmd", {"sh", "-c", "echo > /tmp/go"}}})["exit_code"], 0);
    for (int i = 0; i < 1000 && info["running"] == true; ++i) {
        usleep(10000);
        info = json::parse(client_->request("GET", "/v1/exec/" + id).body);
    }
    EXPECT_EQ(info["running"], false) << info.dump();
    EXPECT_EQ(info["exit_code"], 5) << info.dump();
}

TEST_F(ExecApi, BadInputIsAnsweredWithItsStatus) {
    auto post_exec = [&](const std::string& container, const std::string& body) {
        return client_->request("POST", "/v1/containers/" + container + "/exec", body);
    };
    auto field_of = [](const HttpResponse& r) {
        return json::parse(r.body)["error"].value("field", "");
    };
    EXPECT_EQ(post_exec(std::string(64, 'f'), R"({"cmd":["true"]})").status, 404);
    auto empty = post_exec(container_, R"({"cmd":[]})");
    EXPECT_EQ(empty.status, 400) << empty.body;
    EXPECT_EQ(field_of(empty), "cmd");
    EXPECT_EQ(post_exec(container_, "").status, 400);
    EXPECT_EQ(post_exec(container_, R"({"cmd":["true"],"bogus":1})").status, 400);
    EXPECT_EQ(field_of(post_exec(container_, R"({"cmd":["true"],"env":["NOEQ"]})")), "env[0]");
    EXPECT_EQ(field_of(post_exec(container_, R"({"cmd":["true"],"cwd":"tmp"})")), "cwd");
    EXPECT_EQ(field_of(post_exec(container_, R"({"cmd":["true"],"user":"root"})")), "user");
    EXPECT_EQ(field_of(post_exec(container_, R"({"cmd":["true"],"tty":"yes"})")), "tty");
    EXPECT_EQ(client_->request("POST", "/v1/containers/" + container_ + "/exec", "x", "text/plain")
                  .status,
              415);

    // A container that is not running: created, and exited.
    auto created = create_container(*client_, {"/bin/true"});
    std::string stopped = json::parse(created.body)["id"];
    ids_.insert(stopped);
    EXPECT_EQ(post_exec(stopped, R"({"cmd":["true"]})").status, 409);
    ASSERT_EQ(client_->request("POST", "/v1/containers/" + stopped + "/start").status, 204);
    ASSERT_EQ(client_->request("POST", "/v1/containers/" + stopped + "/wait").status, 200);
    EXPECT_EQ(post_exec(stopped, R"({"cmd":["true"]})").status, 409);

    // Unknown execs; a second start; a program or cwd the container does not have.
    EXPECT_EQ(client_->request("GET", "/v1/exec/" + std::string(64, 'a')).status, 404);
    EXPECT_EQ(client_->request("GET", "/v1/exec/nope").status, 404);
    EXPECT_EQ(client_->request("POST", "/v1/exec/" + std::string(64, 'a') + "/start").status, 404);
    std::string id = json::parse(post_exec(container_, R"({"cmd":["true"]})").body)["id"];
    EXPECT_EQ(client_->request("POST", "/v1/exec/" + id + "/start").status, 200);
    EXPECT_EQ(client_->request("POST", "/v1/exec/" + id + "/start").status, 409);
    EXPECT_EQ(client_->request("POST", "/v1/exec/" + id + "/start", R"({"detach":1})").status, 400);
    json missing = run_exec(*client_, {{"cmd", {"/bin/nope"}}});
    EXPECT_EQ(missing.value("start", 0), 400) << missing.dump();
    json gone = run_exec(*client_, {{"cmd", {"true"}}, {"cwd", "/nonexistent"}});
    EXPECT_EQ(gone.value("start", 0), 400) << gone.dump();
}
