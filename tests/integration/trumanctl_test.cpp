// trumanctl end to end: the real binary against a real trumand on a temporary socket with
// temporary state and run directories, real containers from the busybox image.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "test_support.hpp"
#include "truman/client/api_client.hpp"

namespace truman::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kBin = std::string(TRUMAN_BINARY_DIR) + "/bin/";

struct CtlResult {
    int rc = -1;
    std::string out, err;
};

// Runs trumanctl with args; stdout and stderr are captured separately (the client routes the
// container's two streams to them).
CtlResult run_ctl(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    TempDir dir("trumanctl-out");
    std::string out = dir.path() + "/out", err = dir.path() + "/err";
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): the forked child has one thread
        for (auto& e : env) putenv(const_cast<char*>(e.c_str()));
        int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) _exit(120);
        dup2(o, 1);
        dup2(e, 2);
        std::vector<char*> argv{const_cast<char*>("trumanctl")};
        for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv((kBin + "trumanctl").c_str(), argv.data());
        _exit(121);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CtlResult r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
}

std::ostream& operator<<(std::ostream& os, const CtlResult& r) {
    return os << "rc=" << r.rc << "\nstdout:\n" << r.out << "stderr:\n" << r.err;
}

// One trumand on a temporary socket; its containers are removed and it is stopped by the
// destructor, also when a test fails half-way.
class Trumand {
  public:
    Trumand() : socket_(dir_.path() + "/trumand.sock") {
        pid_ = fork();
        if (pid_ < 0) throw std::runtime_error("fork");
        if (pid_ == 0) {
            int log =
                open((dir_.path() + "/trumand.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (log >= 0) dup2(log, 2);
            std::string bin = kBin + "trumand", state = dir_.path() + "/state",
                        run = dir_.path() + "/run";
            execl(bin.c_str(), bin.c_str(), "--socket", socket_.c_str(), "--state-dir",
                  state.c_str(), "--run-dir", run.c_str(), "--group", "truman-test-nonexistent",
                  "--log-level", "debug", "--default-network", "none", static_cast<char*>(nullptr));
            _exit(127);
        }
        client::ApiClient api(socket_);
        for (int i = 0; i < 2000; ++i) {
            try {
                api.call("GET", "/v1/_ping");
                return;
            } catch (const client::ConnectionError&) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        stop();
        throw std::runtime_error("trumand did not come up:\n" + log());
    }
    ~Trumand() {
        try {
            client::ApiClient api(socket_);
            for (auto& c : api.call_json("GET", "/v1/containers"))
                api.call("DELETE", "/v1/containers/" + c["id"].get<std::string>() + "?force=true");
        } catch (const std::exception&) {
        }
        stop();
    }
    Trumand(const Trumand&) = delete;
    Trumand& operator=(const Trumand&) = delete;

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

    std::string log() const {
        try {
            return read_file(dir_.path() + "/trumand.log");
        } catch (...) {
            return "";
        }
    }
    const std::string& socket() const { return socket_; }

  private:
    TempDir dir_{"tctl"};  // short: the API socket path must fit sun_path
    std::string socket_;
    pid_t pid_ = -1;
};

class TrumanctlTest : public ::testing::Test {
  protected:
    void TearDown() override {
        if (HasFailure()) std::cerr << "trumand log:\n" << daemon_.log();
    }
    // trumanctl against this test's daemon.
    CtlResult ctl(std::vector<std::string> args) {
        args.insert(args.begin(), {"--socket", daemon_.socket()});
        return run_ctl(args);
    }
    std::vector<std::string> lines(const std::string& text) {
        std::vector<std::string> out;
        size_t pos = 0, nl;
        while ((nl = text.find('\n', pos)) != std::string::npos) {
            out.push_back(text.substr(pos, nl - pos));
            pos = nl + 1;
        }
        return out;
    }
    Trumand daemon_;
};

TEST_F(TrumanctlTest, RunRmEchoHelloPrintsHelloExitsZeroAndLeavesNothing) {
    auto r = ctl({"run", "--rm", "busybox", "echo", "hello"});
    EXPECT_EQ(r.rc, 0) << r;
    EXPECT_EQ(r.out, "hello\n");
    EXPECT_EQ(r.err, "");
    auto ps = ctl({"ps", "-a", "-q"});
    EXPECT_EQ(ps.rc, 0) << ps;
    EXPECT_EQ(ps.out, "") << "--rm left the container behind";
}

TEST_F(TrumanctlTest, RunExitsWithTheContainersCodeAndSplitsItsStreams) {
    std::string name = unique_name("seven");
    auto r = ctl({"run", "--name", name, "busybox", "sh", "-c", "echo out; echo err >&2; exit 7"});
    EXPECT_EQ(r.rc, 7) << r;
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");

    auto ps = ctl({"ps", "-a"});
    ASSERT_EQ(ps.rc, 0) << ps;
    auto rows = lines(ps.out);
    ASSERT_EQ(rows.size(), 2u) << ps.out;
    EXPECT_EQ(rows[0].rfind("CONTAINER ID   NAME", 0), 0u) << rows[0];
    EXPECT_NE(rows[1].find(name), std::string::npos);
    EXPECT_NE(rows[1].find("Exited (7)"), std::string::npos) << rows[1];
    EXPECT_NE(rows[1].find("\"sh -c echo out; ech…\""), std::string::npos) << rows[1];
    // Columns line up: NAME starts at the same offset in the header and the row.
    EXPECT_EQ(rows[0].find("NAME"), rows[1].find(name));
    EXPECT_EQ(ctl({"ps"}).out, "CONTAINER ID   NAME   IMAGE   COMMAND   STATUS   CREATED   PORTS\n")
        << "ps without -a lists only running containers";

    auto inspect = ctl({"inspect", name});
    ASSERT_EQ(inspect.rc, 0) << inspect;
    json j = json::parse(inspect.out);
    EXPECT_EQ(j["name"], name);
    EXPECT_EQ(j["state"]["status"], "exited");
    EXPECT_EQ(j["state"]["exit_code"], 7);
    EXPECT_EQ(j["id"].get<std::string>().size(), 64u);

    auto logs = ctl({"logs", name});
    EXPECT_EQ(logs.rc, 0) << logs;
    EXPECT_EQ(logs.out, "out\n");
    EXPECT_EQ(logs.err, "err\n");

    auto wait = ctl({"wait", name});
    EXPECT_EQ(wait.rc, 7) << wait;
    EXPECT_EQ(wait.out, "7\n");

    auto rm = ctl({"rm", name});
    EXPECT_EQ(rm.rc, 0) << rm;
    EXPECT_EQ(ctl({"ps", "-a", "-q"}).out, "");
}

TEST_F(TrumanctlTest, DetachedRunPsAndForcedRemoveOfARunningContainer) {
    std::string name = unique_name("sleeper");
    auto run = ctl({"run", "-d", "--name", name, "busybox", "sleep", "1000"});
    ASSERT_EQ(run.rc, 0) << run;
    ASSERT_EQ(run.out.size(), 65u) << run.out;  // 64 hex + '\n'
    std::string id = run.out.substr(0, 64);

    auto ps = ctl({"ps"});
    ASSERT_EQ(ps.rc, 0) << ps;
    auto rows = lines(ps.out);
    ASSERT_EQ(rows.size(), 2u) << ps.out;
    EXPECT_EQ(rows[1].rfind(id.substr(0, 12) + "   " + name, 0), 0u) << rows[1];
    EXPECT_NE(rows[1].find("   Up "), std::string::npos) << rows[1];
    EXPECT_EQ(ctl({"ps", "-q"}).out, id.substr(0, 12) + "\n");
    json list = json::parse(ctl({"ps", "--json"}).out);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["id"], id);
    EXPECT_EQ(list[0]["state"]["status"], "running");

    // Removing a running container without -f is the daemon's conflict, reported as sent.
    auto refused = ctl({"rm", name});
    EXPECT_EQ(refused.rc, 126) << refused;
    EXPECT_EQ(refused.err.rfind("trumanctl: ", 0), 0u) << refused.err;
    EXPECT_NE(refused.err.find(name), std::string::npos) << refused.err;

    auto forced = ctl({"rm", "-f", name});
    EXPECT_EQ(forced.rc, 0) << forced;
    EXPECT_EQ(forced.out, name + "\n");
    EXPECT_EQ(ctl({"ps", "-a", "-q"}).out, "");
}

TEST_F(TrumanctlTest, LogsFollowStreamsUntilTheContainerExits) {
    std::string name = unique_name("lines");
    auto run = ctl({"run", "-d", "--name", name, "busybox", "sh", "-c",
                    "for i in 1 2 3 4; do echo line$i; sleep 0.3; done; echo bye >&2"});
    ASSERT_EQ(run.rc, 0) << run;
    // Returns only once the container has exited, with every line it printed.
    auto follow = ctl({"logs", "-f", name});
    EXPECT_EQ(follow.rc, 0) << follow;
    EXPECT_EQ(follow.out, "line1\nline2\nline3\nline4\n");
    EXPECT_EQ(follow.err, "bye\n");
    json j = json::parse(ctl({"inspect", name}).out);
    EXPECT_EQ(j["state"]["status"], "exited");

    auto tail = ctl({"logs", "--tail", "2", name});
    EXPECT_EQ(tail.rc, 0) << tail;
    EXPECT_EQ(tail.out, "line4\n");
    EXPECT_EQ(tail.err, "bye\n");
    auto stamped = ctl({"logs", "-t", "--tail", "1", name});
    ASSERT_EQ(stamped.rc, 0) << stamped;
    EXPECT_TRUE(
        std::regex_match(stamped.err, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z bye\n)")))
        << stamped.err;
}

TEST_F(TrumanctlTest, CreateStartWaitKillStop) {
    std::string name = unique_name("cycle");
    auto create = ctl({"create", "--name", name, "busybox", "sh", "-c", "exit 3"});
    ASSERT_EQ(create.rc, 0) << create;
    EXPECT_EQ(json::parse(ctl({"inspect", name}).out)["state"]["status"], "created");
    EXPECT_NE(ctl({"ps", "-a"}).out.find("Created"), std::string::npos);
    EXPECT_EQ(ctl({"start", name}).rc, 0);
    auto wait = ctl({"wait", name});
    EXPECT_EQ(wait.rc, 3) << wait;
    EXPECT_EQ(wait.out, "3\n");

    // A signal by name: the container's init traps nothing, so KILL is what ends it; wait
    // reports 128 + 9 like a shell.
    std::string victim = unique_name("victim");
    ASSERT_EQ(ctl({"run", "-d", "--name", victim, "busybox", "sleep", "1000"}).rc, 0);
    EXPECT_EQ(ctl({"kill", "-s", "sigkill", victim}).rc, 0);
    EXPECT_EQ(ctl({"wait", victim}).rc, 137);

    // stop: SIGTERM is ignored by a pid-namespace init without a handler, so -t 1 escalates.
    std::string stubborn = unique_name("stubborn");
    ASSERT_EQ(ctl({"run", "-d", "--name", stubborn, "busybox", "sleep", "1000"}).rc, 0);
    auto stop = ctl({"stop", "-t", "1", stubborn});
    EXPECT_EQ(stop.rc, 0) << stop;
    json state = json::parse(ctl({"inspect", stubborn}).out)["state"];
    EXPECT_EQ(state["status"], "exited");
    EXPECT_EQ(state["signal"], 9);
}

TEST_F(TrumanctlTest, RunFlagsReachTheContainer) {
    auto r = ctl({"run",
                  "--rm",
                  "--hostname",
                  "box",
                  "-e",
                  "GREETING=hi there",
                  "-w",
                  "/tmp",
                  "--user",
                  "1234:5678",
                  "--read-only",
                  "--network",
                  "none",
                  "--memory",
                  "64m",
                  "--pids-limit",
                  "32",
                  "--cpus",
                  "0.5",
                  "--cap-drop",
                  "ALL",
                  "busybox",
                  "sh",
                  "-c",
                  "hostname; echo $GREETING; pwd; id -u; id -g"});
    EXPECT_EQ(r.rc, 0) << r;
    EXPECT_EQ(r.out, "box\nhi there\n/tmp\n1234\n5678\n");
    // --read-only, as root (who could otherwise write anywhere).
    const std::string probe = "touch /x 2>/dev/null && echo rw || echo ro";
    EXPECT_EQ(ctl({"run", "--rm", "--read-only", "busybox", "sh", "-c", probe}).out, "ro\n");
    EXPECT_EQ(ctl({"run", "--rm", "busybox", "sh", "-c", probe}).out, "rw\n");
    // seccomp=unconfined is accepted and the container still runs.
    EXPECT_EQ(ctl({"run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "true"}).rc,
              0);
}

TEST_F(TrumanctlTest, SocketFromTheEnvironment) {
    auto r = run_ctl({"version", "--json"}, {"TRUMAN_SOCKET=" + daemon_.socket()});
    ASSERT_EQ(r.rc, 0) << r;
    json v = json::parse(r.out);
    EXPECT_TRUE(v.contains("version"));
    EXPECT_EQ(v["api_version"], "1");
    auto info = run_ctl({"info", "--json"}, {"TRUMAN_SOCKET=" + daemon_.socket()});
    ASSERT_EQ(info.rc, 0) << info;
    EXPECT_TRUE(json::parse(info.out).contains("containers"));
    auto human = run_ctl({"info"}, {"TRUMAN_SOCKET=" + daemon_.socket()});
    EXPECT_NE(human.out.find("Socket: " + daemon_.socket()), std::string::npos) << human;
    // --socket wins over the environment.
    auto flag =
        run_ctl({"--socket", daemon_.socket(), "version"}, {"TRUMAN_SOCKET=/nonexistent.sock"});
    EXPECT_EQ(flag.rc, 0) << flag;
}

TEST_F(TrumanctlTest, EventsFollowALifecycle) {
    TempDir dir("trumanctl-events");
    std::string out = dir.path() + "/events";
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        std::string bin = kBin + "trumanctl";
        execl(bin.c_str(), bin.c_str(), "--socket", daemon_.socket().c_str(), "events", "--json",
              static_cast<char*>(nullptr));
        _exit(127);
    }
    struct Reaper {
        pid_t pid;
        ~Reaper() {
            ::kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    } reaper{pid};
    // The subscription exists once the daemon answered the stream's headers; poll with
    // containers until one is seen (no sleep-based assumption about when that is).
    std::string name = unique_name("evt");
    std::string seen;
    for (int i = 0; i < 100 && seen.find("\"die\"") == std::string::npos; ++i) {
        ASSERT_EQ(ctl({"run", "--rm", "--name", name, "busybox", "true"}).rc, 0);
        seen = read_file(out);
    }
    ASSERT_NE(seen.find("\"die\""), std::string::npos) << seen;
    for (const auto& line : lines(seen)) {
        json e = json::parse(line);
        EXPECT_EQ(e["name"], name);
        EXPECT_TRUE(e.contains("type") && e.contains("id") && e.contains("time")) << line;
    }
}

// Every failure is one line on stderr and its own exit code.
TEST_F(TrumanctlTest, ErrorsHaveOneLineAndTheirOwnExitCode) {
    auto bad_flag = ctl({"ps", "--bogus"});
    EXPECT_EQ(bad_flag.rc, 125) << bad_flag;
    EXPECT_NE(bad_flag.err.find("--bogus"), std::string::npos) << bad_flag.err;
    EXPECT_EQ(bad_flag.out, "");
    EXPECT_EQ(ctl({}).rc, 125) << "no verb";
    EXPECT_EQ(ctl({"kill", "-s", "BOGUS", "x"}).rc, 125);
    auto bad_size = ctl({"run", "--memory", "lots", "busybox"});
    EXPECT_EQ(bad_size.rc, 125) << bad_size;
    EXPECT_NE(bad_size.err.find("\"lots\""), std::string::npos) << bad_size.err;
    EXPECT_EQ(ctl({"ps", "-a", "-q"}).out, "") << "a usage error must not create anything";

    // Unknown container: the daemon's message, exactly as it sent it.
    std::string missing = unique_name("missing");
    std::string daemon_message;
    try {
        client::ApiClient(daemon_.socket()).call("GET", "/v1/containers/" + missing);
    } catch (const client::ApiError& e) {
        daemon_message = e.what();
    }
    ASSERT_FALSE(daemon_message.empty());
    for (auto args : std::vector<std::vector<std::string>>{{"inspect", missing},
                                                           {"rm", missing},
                                                           {"logs", missing},
                                                           {"wait", missing},
                                                           {"start", missing}}) {
        auto r = ctl(args);
        EXPECT_EQ(r.rc, 126) << args[0] << ": " << r;
        EXPECT_EQ(r.err, "trumanctl: " + daemon_message + "\n") << args[0];
    }
    // Errors only the daemon can find, about values a flag gave: named by the flag.
    auto bad_cap = ctl({"run", "--cap-add", "NOT_A_CAP", "busybox", "true"});
    EXPECT_EQ(bad_cap.rc, 126) << bad_cap;
    EXPECT_EQ(bad_cap.err, "trumanctl: --cap-add: unknown capability \"CAP_NOT_A_CAP\"\n");
    auto bad_memory = ctl({"run", "--memory", "0", "busybox", "true"});
    EXPECT_EQ(bad_memory.rc, 126) << bad_memory;
    EXPECT_EQ(bad_memory.err,
              "trumanctl: --memory: must be a positive number of bytes, or -1 for unlimited\n");

    // No daemon.
    TempDir empty("trumanctl-test");
    std::string nowhere = empty.path() + "/none.sock";
    auto down = run_ctl({"--socket", nowhere, "ps"});
    EXPECT_EQ(down.rc, 127) << down;
    EXPECT_EQ(down.err, "trumanctl: cannot connect to trumand at " + nowhere +
                            ": No such file or directory — is trumand running?\n");
}

TEST(Trumanctl, HelpDocumentsTheExitCodes) {
    auto r = run_ctl({"--help"});
    EXPECT_EQ(r.rc, 0) << r;
    for (const char* text : {"125", "126", "127", "TRUMAN_SOCKET", "run", "logs", "events"})
        EXPECT_NE(r.out.find(text), std::string::npos) << text;
}

TEST(Trumanctl, NothingLeaksAfterARun) {
    HostSnapshot before = snapshot_host();
    {
        Trumand daemon;
        auto r = run_ctl({"--socket", daemon.socket(), "run", "--rm", "busybox", "echo", "x"});
        EXPECT_EQ(r.rc, 0) << r;
    }
    EXPECT_EQ(leaks_since(before), "");
}

TEST_F(TrumanctlTest, ExecRunsInTheContainerAndExitsWithItsCode) {
    std::string name = unique_name("exec");
    auto run = ctl({"run", "-d", "--name", name, "busybox", "sleep", "1000"});
    ASSERT_EQ(run.rc, 0) << run;
    auto r = ctl({"exec", name, "sh", "-c", "echo out; echo err >&2; exit 4"});
    EXPECT_EQ(r.rc, 4) << r;
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    // Flags before CONTAINER are trumanctl's; everything after it is the command's.
    r = ctl({"exec", "-u", "1000:1001", "-w", "/tmp", "-e", "A=b", name, "sh", "-c",
             "id -u; id -g; pwd; echo $A"});
    EXPECT_EQ(r.rc, 0) << r;
    EXPECT_EQ(r.out, "1000\n1001\n/tmp\nb\n");
    r = ctl({"exec", "-d", name, "true"});
    EXPECT_EQ(r.rc, 0) << r;
    EXPECT_EQ(r.out.size(), 65u) << r;  // the exec's id
    // -it without a terminal on our stdin: refused before anything is sent, as docker does.
    r = ctl({"exec", "-it", name, "sh"});
    EXPECT_EQ(r.rc, 125) << r;
    EXPECT_NE(r.err.find("not a TTY"), std::string::npos) << r;
    EXPECT_EQ(ctl({"exec", name}).rc, 125);
    EXPECT_EQ(ctl({"exec", "no-such-container", "true"}).rc, 126);
    EXPECT_EQ(ctl({"exec", name, "/bin/nope"}).rc, 126);
    EXPECT_EQ(ctl({"rm", "-f", name}).rc, 0);
}

}  // namespace
}  // namespace truman::test
