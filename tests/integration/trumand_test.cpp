// trumand end to end: the real binary on a temporary socket with temporary state and run
// directories, real containers from a busybox root, driven over the Unix socket.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api_test_client.hpp"
#include "test_support.hpp"

namespace truman::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kTrumand = std::string(TRUMAN_BINARY_DIR) + "/bin/trumand";

bool process_alive(pid_t pid) {
    return pid > 0 && ::kill(pid, 0) == 0;
}

// waitpid with a bound: a daemon that does not exit fails the test instead of hanging it.
int wait_exit(pid_t pid, int timeout_ms = 20000) {
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
}

// One trumand process with its own socket and directories; stopped (and its containers
// removed) by the destructor even when a test fails half-way.
class Daemon {
  public:
    explicit Daemon(std::vector<std::string> extra = {}, std::vector<std::string> env = {},
                    std::string dir = "")
        : owned_dir_(dir.empty() ? std::make_unique<TempDir>("trumand-test") : nullptr),
          dir_(dir.empty() ? owned_dir_->path() : dir),
          socket_(dir_ + "/trumand.sock") {
        start(std::move(extra), std::move(env));
    }
    ~Daemon() { shutdown(); }

    void start(std::vector<std::string> extra = {}, std::vector<std::string> env = {},
               std::vector<std::string> command = {}) {
        if (command.empty()) {
            command = {kTrumand,    "--socket",    socket_,       "--state-dir", dir_ + "/state",
                       "--run-dir", dir_ + "/run", "--log-level", "debug"};
            // Root-only (0600) unless a test names a group: the host may have a truman group.
            if (std::find(extra.begin(), extra.end(), "--group") == extra.end())
                extra.insert(extra.end(), {"--group", "truman-test-nonexistent"});
            // No bridge in the host's namespace: these tests are about the daemon, not networks.
            if (std::find(extra.begin(), extra.end(), "--default-network") == extra.end())
                extra.insert(extra.end(), {"--default-network", "none"});
        }
        for (auto& e : extra) command.push_back(e);
        pid_ = fork();
        if (pid_ < 0) throw std::runtime_error("fork");
        if (pid_ == 0) {
            for (auto& e : env) putenv(const_cast<char*>(e.c_str()));
            std::vector<char*> argv;
            for (auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            int log = open((dir_ + "/trumand.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (log >= 0) dup2(log, 2);
            execv(argv[0], argv.data());
            _exit(127);
        }
    }

    // Polls _ping until it answers (the daemon is up) or the process died.
    void wait_ready() {
        for (int i = 0; i < 2000; ++i) {
            int status;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                break;
            }
            try {
                HttpClient c(socket_);
                if (c.request("GET", "/v1/_ping").status == 200) return;
            } catch (const std::exception&) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        throw std::runtime_error("trumand did not come up; log:\n" + log());
    }

    int terminate() {
        if (pid_ <= 0) return -1;
        ::kill(pid_, SIGTERM);
        int status = wait_exit(pid_);
        if (status == -1) {
            ::kill(pid_, SIGKILL);
            wait_exit(pid_);
        }
        pid_ = -1;
        return status;
    }

    // For a daemon expected to exit on its own.
    int wait_exited() {
        int status = wait_exit(pid_);
        if (status != -1) pid_ = -1;
        return status;
    }

    void kill_hard() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        wait_exit(pid_);
        pid_ = -1;
    }

    void remove_all_containers() {
        try {
            HttpClient c(socket_);
            auto list = json::parse(c.request("GET", "/v1/containers").body);
            for (auto& info : list)
                c.request("DELETE",
                          "/v1/containers/" + info["id"].get<std::string>() + "?force=true");
        } catch (const std::exception&) {
        }
    }

    void shutdown() {
        if (pid_ > 0 && process_alive(pid_)) remove_all_containers();
        terminate();
    }

    std::string log() const {
        try {
            return read_file(dir_ + "/trumand.log");
        } catch (...) {
            return "";
        }
    }

    const std::string& socket() const { return socket_; }
    const std::string& dir() const { return dir_; }
    pid_t pid() const { return pid_; }

  private:
    std::unique_ptr<TempDir> owned_dir_;
    std::string dir_;
    std::string socket_;
    pid_t pid_ = -1;
};

json parse(const HttpResponse& r) {
    return json::parse(r.body);
}

std::string create_body(const std::vector<std::string>& cmd, const std::string& name = "") {
    json body = {{"rootfs", busybox_rootfs()}, {"cmd", cmd}, {"network", "none"}};
    if (!name.empty()) body["name"] = name;
    return body.dump();
}

// Create and start; returns the id.
std::string run(HttpClient& c, const std::vector<std::string>& cmd, const std::string& name = "") {
    auto created = c.request("POST", "/v1/containers", create_body(cmd, name));
    if (created.status != 201) throw std::runtime_error("create: " + created.body);
    std::string id = parse(created)["id"];
    auto started = c.request("POST", "/v1/containers/" + id + "/start");
    if (started.status != 204) throw std::runtime_error("start: " + started.body);
    return id;
}

class TrumandTest : public ::testing::Test {
  protected:
    void SetUp() override {
        daemon_ = std::make_unique<Daemon>();
        daemon_->wait_ready();
    }
    void TearDown() override {
        if (HasFailure() && daemon_) std::cerr << "trumand log:\n" << daemon_->log();
        daemon_.reset();
    }
    std::unique_ptr<Daemon> daemon_;
};

TEST_F(TrumandTest, PingVersionInfo) {
    HttpClient c(daemon_->socket());
    auto ping = c.request("GET", "/v1/_ping");
    EXPECT_EQ(ping.status, 200);
    EXPECT_EQ(ping.body, "OK");
    auto version = parse(c.request("GET", "/v1/version"));
    EXPECT_EQ(version["api_version"], "1");
    EXPECT_FALSE(version["version"].get<std::string>().empty());
    auto info = c.request("GET", "/v1/info");
    EXPECT_EQ(info.status, 200);
    EXPECT_TRUE(parse(info)["containers"].contains("running"));
    EXPECT_FALSE(parse(info)["kernel"].get<std::string>().empty());
}

TEST_F(TrumandTest, CreateStartWaitLogsDeleteEchoHello) {
    HttpClient c(daemon_->socket());
    std::string name = unique_name("echo");
    auto created = c.request("POST", "/v1/containers", create_body({"echo", "hello"}, name));
    ASSERT_EQ(created.status, 201) << created.body;
    std::string id = parse(created)["id"];
    EXPECT_EQ(id.size(), 64u);

    auto inspected = parse(c.request("GET", "/v1/containers/" + name));
    EXPECT_EQ(inspected["id"], id);
    EXPECT_EQ(inspected["state"]["status"], "created");
    EXPECT_EQ(inspected["cmd"], json({"echo", "hello"}));

    EXPECT_EQ(c.request("POST", "/v1/containers/" + id + "/start").status, 204);
    auto waited = c.request("POST", "/v1/containers/" + id + "/wait");
    ASSERT_EQ(waited.status, 200) << waited.body;
    EXPECT_EQ(parse(waited)["exit_code"], 0);
    EXPECT_EQ(parse(waited)["signal"], 0);
    EXPECT_EQ(parse(waited)["oom_killed"], false);

    auto logs = c.request("GET", "/v1/containers/" + id + "/logs");
    EXPECT_EQ(logs.status, 200);
    EXPECT_EQ(logs.body, "hello\n");
    HttpClient c2(daemon_->socket());  // a stream ends its connection
    auto json_logs = c2.request("GET", "/v1/containers/" + id + "/logs?format=json");
    auto line = json::parse(json_logs.body.substr(0, json_logs.body.find('\n')));
    EXPECT_EQ(line["log"], "hello");
    EXPECT_EQ(line["stream"], "stdout");

    HttpClient c3(daemon_->socket());
    auto list = parse(c3.request("GET", "/v1/containers?state=exited"));
    bool listed = false;
    for (auto& info : list) listed = listed || info["id"] == id;
    EXPECT_TRUE(listed);
    EXPECT_EQ(parse(c3.request("GET", "/v1/containers/" + id))["state"]["exit_code"], 0);

    EXPECT_EQ(c3.request("DELETE", "/v1/containers/" + id).status, 204);
    EXPECT_EQ(c3.request("GET", "/v1/containers/" + id).status, 404);
}

TEST_F(TrumandTest, FollowingLogsEndsWhenTheContainerExits) {
    HttpClient c(daemon_->socket());
    std::string id = run(c, {"sh", "-c", "echo one; sleep 1; echo two >&2"});
    HttpClient f(daemon_->socket());
    auto logs = f.request("GET", "/v1/containers/" + id + "/logs?follow=true&timestamps=true");
    EXPECT_EQ(logs.status, 200);
    EXPECT_NE(logs.body.find(" one\n"), std::string::npos) << logs.body;
    EXPECT_NE(logs.body.find(" two\n"), std::string::npos) << logs.body;
    HttpClient only(daemon_->socket());
    EXPECT_EQ(only.request("GET", "/v1/containers/" + id + "/logs?stderr=false").body, "one\n");
}

TEST_F(TrumandTest, ErrorsOverTheWire) {
    HttpClient c(daemon_->socket());
    auto r = c.request("GET", "/v1/containers/doesnotexist");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(parse(r)["error"]["code"], "not_found");
    r = c.request("PATCH", "/v1/containers");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("allow"), "POST, GET");
    r = c.request("POST", "/v1/containers", R"({"rootfs":"/x","cmd":"echo"})");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(parse(r)["error"]["message"].get<std::string>().rfind("cmd: ", 0), 0u);
    r = c.request("POST", "/v1/containers", "{not json");
    EXPECT_EQ(r.status, 400);
    r = c.request("POST", "/v1/containers", create_body({"true"}), "text/plain");
    EXPECT_EQ(r.status, 415);

    std::string name = unique_name("dup");
    std::string id = run(c, {"sleep", "1000"}, name);
    r = c.request("POST", "/v1/containers", create_body({"true"}, name));
    EXPECT_EQ(r.status, 409) << r.body;
    r = c.request("DELETE", "/v1/containers/" + id);
    EXPECT_EQ(r.status, 409) << "a running container needs force";
    EXPECT_EQ(c.request("POST", "/v1/containers/" + id + "/kill?signal=BOGUS").status, 400);
    EXPECT_EQ(c.request("DELETE", "/v1/containers/" + id + "?force=true").status, 204);

    HttpClient big(daemon_->socket());
    big.send_raw(
        "POST /v1/containers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 2000000\r\n\r\n");
    EXPECT_EQ(big.read_response().status, 413);
}

TEST_F(TrumandTest, WaitOnAnExitedContainerAnswersAtOnce) {
    HttpClient c(daemon_->socket());
    std::string id = run(c, {"sh", "-c", "exit 7"});
    EXPECT_EQ(parse(c.request("POST", "/v1/containers/" + id + "/wait"))["exit_code"], 7);
    auto again = c.request("POST", "/v1/containers/" + id + "/wait");
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(parse(again)["exit_code"], 7);
}

TEST_F(TrumandTest, KillWithANameAndANumber) {
    HttpClient c(daemon_->socket());
    std::string a = run(c, {"sleep", "1000"});
    std::string b = run(c, {"sleep", "1000"});
    EXPECT_EQ(c.request("POST", "/v1/containers/" + a + "/kill?signal=SIGKILL").status, 204);
    EXPECT_EQ(c.request("POST", "/v1/containers/" + b + "/kill?signal=9").status, 204);
    for (auto& id : {a, b}) {
        auto w = parse(c.request("POST", "/v1/containers/" + id + "/wait"));
        EXPECT_EQ(w["signal"], 9);
        EXPECT_EQ(w["exit_code"], 137);
    }
}

TEST_F(TrumandTest, StopEscalatesToSigkillAfterTheTimeout) {
    HttpClient c(daemon_->socket());
    // PID 1 of a PID namespace ignores SIGTERM without a handler, so stop must escalate.
    std::string id = run(c, {"sleep", "1000"});
    auto r = c.request("POST", "/v1/containers/" + id + "/stop?timeout=1");
    EXPECT_EQ(r.status, 204) << r.body;
    auto state = parse(c.request("GET", "/v1/containers/" + id))["state"];
    EXPECT_EQ(state["status"], "exited");
    EXPECT_EQ(state["signal"], 9);
}

TEST_F(TrumandTest, EventsStreamSeesCreateStartDie) {
    HttpClient events(daemon_->socket());
    events.send("GET", "/v1/events");
    auto head = events.read_head();
    ASSERT_EQ(head.status, 200);
    EXPECT_EQ(head.header("content-type"), "application/x-ndjson");
    HttpClient c(daemon_->socket());
    std::string id = run(c, {"true"});
    std::vector<std::string> seen;
    std::string chunk;
    while (events.read_chunk(&chunk, 20000)) {
        std::istringstream lines(chunk);
        for (std::string line; std::getline(lines, line);) {
            auto e = json::parse(line);
            if (e["id"] == id) seen.push_back(e["type"]);
        }
        if (!seen.empty() && seen.back() == "die") break;
    }
    ASSERT_GE(seen.size(), 3u);
    EXPECT_EQ(seen[0], "create");
    EXPECT_EQ(seen[1], "start");
    EXPECT_EQ(seen.back(), "die");
}

TEST_F(TrumandTest, OtherClientsAreAnsweredWhileOneIsBlockedInWait) {
    HttpClient c(daemon_->socket());
    std::string id = run(c, {"sleep", "1000"});
    HttpClient waiting(daemon_->socket());
    waiting.send("POST", "/v1/containers/" + id + "/wait");
    for (int i = 0; i < 5; ++i) {
        HttpClient other(daemon_->socket());
        EXPECT_EQ(other.request("GET", "/v1/_ping").status, 200);
        EXPECT_EQ(other.request("GET", "/v1/containers/" + id).status, 200);
    }
    EXPECT_EQ(c.request("POST", "/v1/containers/" + id + "/kill").status, 204);
    auto r = waiting.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(parse(r)["signal"], 9);
}

TEST_F(TrumandTest, SocketIsRootOnlyWithoutTheGroup) {
    struct stat st {};
    ASSERT_EQ(stat(daemon_->socket().c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(Trumand, SocketIsGroupAccessibleWithAnExistingGroup) {
    struct group* gr = getgrnam("daemon");
    ASSERT_NE(gr, nullptr) << "the test needs the standard 'daemon' group";
    gid_t gid = gr->gr_gid;
    Daemon d({"--group", "daemon"});
    d.wait_ready();
    struct stat st {};
    ASSERT_EQ(stat(d.socket().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
    EXPECT_EQ(st.st_gid, gid);
}

// A non-root peer that may connect (the test opens the file up) is still refused by the
// SO_PEERCRED check.
TEST_F(TrumandTest, NonRootPeerGets403) {
    ASSERT_EQ(chmod(daemon_->socket().c_str(), 0666), 0);
    ASSERT_EQ(chmod(daemon_->dir().c_str(), 0755), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
        try {
            HttpClient c(daemon_->socket());
            auto r = c.request("GET", "/v1/_ping");
            _exit(r.status == 403 ? 0 : 11);
        } catch (...) {
            _exit(12);
        }
    }
    EXPECT_EQ(wait_exit(child), 0) << "10: setuid failed, 11: not 403, 12: connection failed";
    HttpClient root(daemon_->socket());
    EXPECT_EQ(root.request("GET", "/v1/_ping").status, 200);
}

TEST(Trumand, SigtermExitsZeroAndContainersKeepRunning) {
    TempDir dir("trumand-test");
    Daemon d({}, {}, dir.path());
    d.wait_ready();
    std::string id;
    int pid = 0;
    {
        HttpClient c(d.socket());
        id = run(c, {"sleep", "1000"});
        pid = parse(c.request("GET", "/v1/containers/" + id))["state"]["pid"];
    }
    ASSERT_GT(pid, 0);
    EXPECT_EQ(d.terminate(), 0);
    EXPECT_FALSE(fs::exists(d.socket())) << "socket file removed on a clean exit";
    EXPECT_TRUE(process_alive(pid)) << "the container died with the daemon";

    d.start();  // the same directories: it finds the container again
    d.wait_ready();
    HttpClient c(d.socket());
    EXPECT_EQ(parse(c.request("GET", "/v1/containers/" + id))["state"]["status"], "running");
    EXPECT_EQ(c.request("DELETE", "/v1/containers/" + id + "?force=true").status, 204);
    for (int i = 0; i < 500 && process_alive(pid); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(process_alive(pid));
}

TEST(Trumand, NothingLeaksAfterALifecycle) {
    HostSnapshot before = snapshot_host();
    {
        Daemon d;
        d.wait_ready();
        HttpClient c(d.socket());
        std::string id = run(c, {"echo", "hello"});
        EXPECT_EQ(parse(c.request("POST", "/v1/containers/" + id + "/wait"))["exit_code"], 0);
        EXPECT_EQ(c.request("DELETE", "/v1/containers/" + id).status, 204);
        EXPECT_EQ(d.terminate(), 0);
    }
    EXPECT_EQ(leaks_since(before), "");
}

TEST(Trumand, ReadsItsOptionsFromAConfigFile) {
    TempDir dir("trumand-test");
    std::string sock = dir.path() + "/from-config.sock";
    std::ofstream(dir.path() + "/trumand.toml")
        << "socket = \"" << sock << "\"\nstate-dir = \"" << dir.path() << "/state\"\nrun-dir = \""
        << dir.path() << "/run\"\nlog-level = \"debug\"\ndefault-network = \"none\"\n";
    Daemon d({}, {}, dir.path());
    d.terminate();
    d.start({}, {}, {kTrumand, "--config", dir.path() + "/trumand.toml"});
    for (int i = 0; i < 1000 && !fs::exists(sock); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    HttpClient c(sock);
    EXPECT_EQ(c.request("GET", "/v1/_ping").status, 200);
    EXPECT_TRUE(fs::exists(dir.path() + "/state"));
    EXPECT_EQ(d.terminate(), 0);
}

TEST(Trumand, StaleSocketIsReplacedButALiveOneIsNot) {
    TempDir dir("trumand-test");
    Daemon first({}, {}, dir.path());
    first.wait_ready();
    {
        // Another daemon on the same socket must refuse, not steal it.
        Daemon second({"--state-dir", dir.path() + "/state2", "--run-dir", dir.path() + "/run2"},
                      {}, dir.path());
        EXPECT_NE(second.wait_exited(), 0);
        HttpClient c(first.socket());
        EXPECT_EQ(c.request("GET", "/v1/_ping").status, 200);
    }
    first.kill_hard();
    ASSERT_TRUE(fs::exists(first.socket())) << "SIGKILL leaves the socket file behind";
    first.start();
    first.wait_ready();
}

TEST(Trumand, SocketActivation) {
    TempDir dir("trumand-test");
    std::string sock = dir.path() + "/activated.sock";
    Daemon d({}, {}, dir.path());  // a normal one, only to borrow the lifecycle helpers
    d.terminate();
    d.start({}, {},
            {"/usr/bin/systemd-socket-activate", "-l", sock, kTrumand, "--socket",
             dir.path() + "/unused.sock", "--state-dir", dir.path() + "/state", "--run-dir",
             dir.path() + "/run", "--default-network", "none"});
    for (int i = 0; i < 1000 && !fs::exists(sock); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(fs::exists(sock));
    HttpClient c(sock);  // the first connection starts trumand, which gets the socket as fd 3
    auto r = c.request("GET", "/v1/_ping");
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(fs::exists(dir.path() + "/unused.sock"));
    EXPECT_EQ(d.terminate(), 0);
}

TEST(Trumand, NotifiesReadyAndStopping) {
    TempDir dir("trumand-test");
    std::string notify = dir.path() + "/notify.sock";
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, notify.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    Daemon d({}, {"NOTIFY_SOCKET=" + notify}, dir.path());
    char buf[256] = {};
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    ASSERT_GT(n, 0) << "no READY=1 within 20 s";
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "READY=1");
    HttpClient c(d.socket());  // ready means serving
    EXPECT_EQ(c.request("GET", "/v1/_ping").status, 200);
    ::kill(d.pid(), SIGTERM);
    n = recv(fd, buf, sizeof buf - 1, 0);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "STOPPING=1");
    EXPECT_EQ(d.terminate(), 0);
    close(fd);
}

TEST(Trumand, NotifiesAnAbstractSocket) {
    std::string name = "truman-notify-" + unique_name("t");
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())),
              0);
    timeval tv{20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    Daemon d({}, {"NOTIFY_SOCKET=@" + name});
    char buf[64] = {};
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "READY=1");
    close(fd);
}

}  // namespace
}  // namespace truman::test
