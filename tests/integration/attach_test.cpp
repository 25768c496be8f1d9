// attach (issue 12): POST /v1/containers/{id}/attach upgraded to a raw stream that the
// container's monitor carries, stdin through open_stdin/stdin_once, attached exec starts, and
// trumanctl run -i / exec -i / attach, against a real trumand and real containers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_support.hpp"
#include "truman/stream_frame.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kCtl = std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl";

struct CtlResult {
    int rc = -1;
    std::string out, err;
};

// trumanctl with args; stdin_fd (if >= 0) becomes its stdin, else /dev/null.
pid_t spawn_ctl(const std::vector<std::string>& args, int stdin_fd, const std::string& out,
                const std::string& err) {
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
        int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
        int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || o < 0 || e < 0) _exit(120);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        std::vector<char*> argv{const_cast<char*>("trumanctl")};
        for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(kCtl.c_str(), argv.data());
        _exit(121);
    }
    return pid;
}

int exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// trumanctl with input as its stdin (through a file).
CtlResult ctl_with_input(const std::vector<std::string>& args, const std::string& input) {
    TempDir dir("attach-ctl");
    std::string in = dir.path() + "/in";
    {
        std::ofstream f(in, std::ios::binary);
        f << input;
    }
    int fd = open(in.c_str(), O_RDONLY | O_CLOEXEC);
    pid_t pid = spawn_ctl(args, fd, dir.path() + "/out", dir.path() + "/err");
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    return {exit_code(status), read_file(dir.path() + "/out"), read_file(dir.path() + "/err")};
}

std::ostream& operator<<(std::ostream& os, const CtlResult& r) {
    return os << "rc=" << r.rc << "\nstdout:\n" << r.out << "stderr:\n" << r.err;
}

// VmRSS and VmHWM of a process in KiB (0 when it is gone).
struct Memory {
    size_t rss = 0, hwm = 0;
};
Memory memory_of(pid_t pid) {
    Memory m;
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string key;
    size_t value;
    while (f >> key) {
        if (key == "VmRSS:" && f >> value) m.rss = value;
        if (key == "VmHWM:" && f >> value) m.hwm = value;
    }
    return m;
}

// The truman-monitor processes serving containers under state_dir.
std::vector<pid_t> monitors_of(const std::string& state_dir) {
    std::vector<pid_t> out;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string cmdline;
        try {
            cmdline = read_file(entry.path() / "cmdline");
        } catch (...) {
            continue;
        }
        if (cmdline.find("truman-monitor") != std::string::npos &&
            cmdline.find(state_dir) != std::string::npos)
            out.push_back(std::stoi(name));
    }
    return out;
}

// An upgraded connection to attach (or an attached exec start), read frame by frame.
class Attached {
  public:
    Attached(const TrumandProcess& daemon, const std::string& target, const std::string& body = "")
        : client_(daemon.socket()) {
        std::string req = "POST " + target +
                          " HTTP/1.1\r\nHost: truman\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                          "Content-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
        client_.send_raw(req);
        head_ = client_.read_head();
        if (head_.status == 101) decoder_.feed(client_.take_buffered());
    }
    const HttpResponse& head() const { return head_; }
    void send(const std::string& bytes) { client_.send_raw(bytes); }
    void close_input() { shutdown(client_.fd(), SHUT_WR); }

    // Everything until the server closes the connection (with what read_until saw):
    // stdout, stderr.
    std::pair<std::string, std::string> read_to_end(int timeout_ms = 30000) {
        while (receive(timeout_ms)) {
        }
        EXPECT_EQ(decoder_.pending(), 0u);
        return {out_, err_};
    }
    // Reads until stdout holds text (or the connection closes); returns stdout so far.
    std::string read_until(const std::string& text, int timeout_ms = 30000) {
        while (out_.find(text) == std::string::npos && receive(timeout_ms)) {
        }
        return out_;
    }

  private:
    HttpClient client_;
    HttpResponse head_;
    // Decodes what came; false once the connection is closed.
    // What came with the 101 is decoded first, without waiting: it may be all there is.
    bool receive(int timeout_ms) {
        bool decoded = false;
        while (auto f = decoder_.next()) {
            (f->type == StreamType::stdout_stream ? out_ : err_) += f->payload;
            decoded = true;
        }
        if (decoded) return true;
        pollfd p{client_.fd(), POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) throw std::runtime_error("attach: timed out");
        char buf[65536];
        ssize_t n = recv(client_.fd(), buf, sizeof buf, 0);
        if (n <= 0) return false;
        decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
        while (auto f = decoder_.next())
            (f->type == StreamType::stdout_stream ? out_ : err_) += f->payload;
        return true;
    }

    FrameDecoder decoder_;
    std::string out_, err_;
};

class Attach : public ::testing::Test {
  protected:
    void SetUp() override {
        busybox_rootfs();
        daemon_ = std::make_unique<TrumandProcess>();
        client_ = std::make_unique<HttpClient>(daemon_->socket());
    }
    void TearDown() override {
        client_.reset();
        EXPECT_EQ(daemon_->remove_all_containers(), std::vector<std::string>{});
        EXPECT_EQ(container_leaks(*daemon_, ids_), "");
        if (HasFailure()) std::cerr << "trumand log:\n" << daemon_->log();
        daemon_.reset();
    }

    std::string create(const std::vector<std::string>& cmd, bool open_stdin, bool stdin_once) {
        json body = {{"rootfs", busybox_rootfs()},
                     {"cmd", cmd},
                     {"network", "none"},
                     {"open_stdin", open_stdin},
                     {"stdin_once", stdin_once}};
        auto r = client_->request("POST", "/v1/containers", body.dump());
        EXPECT_EQ(r.status, 201) << r.body;
        std::string id = json::parse(r.body).value("id", "");
        ids_.insert(id);
        return id;
    }
    void start(const std::string& id) {
        EXPECT_EQ(client_->request("POST", "/v1/containers/" + id + "/start").status, 204);
    }
    json wait(const std::string& id) {
        return json::parse(client_->request("POST", "/v1/containers/" + id + "/wait").body);
    }
    std::string status_of(const std::string& id) {
        auto r = client_->request("GET", "/v1/containers/" + id);
        return json::parse(r.body)["state"].value("status", "");
    }
    std::vector<std::string> ctl_args(std::vector<std::string> args) {
        args.insert(args.begin(), {"--socket", daemon_->socket()});
        return args;
    }

    std::unique_ptr<TrumandProcess> daemon_;
    std::unique_ptr<HttpClient> client_;
    std::set<std::string> ids_;
};

TEST_F(Attach, RunInteractiveCatEchoesItsStdinAndEndsAtItsEof) {
    auto r = ctl_with_input(ctl_args({"run", "-i", "--rm", "busybox", "cat"}), "hi\n");
    EXPECT_EQ(r.rc, 0) << r;
    EXPECT_EQ(r.out, "hi\n") << r;
    // Without -i the container's stdin is /dev/null: cat ends at once.
    auto plain = ctl_with_input(ctl_args({"run", "--rm", "busybox", "cat"}), "not read\n");
    EXPECT_EQ(plain.rc, 0) << plain;
    EXPECT_EQ(plain.out, "") << plain;
}

// 256 MiB through the container and back as a digest: every byte arrives, in order, and
// nobody on the way buffers the stream (trumand is not even on the path).
TEST_F(Attach, QuarterGibibyteThroughSha256sumWithFlatMemory) {
    int in[2];
    ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
    TempDir dir("attach-sha");
    size_t daemon_before = memory_of(daemon_->pid()).rss;
    pid_t ctl = spawn_ctl(ctl_args({"run", "-i", "--rm", "busybox", "sha256sum"}), in[0],
                          dir.path() + "/out", dir.path() + "/err");
    close(in[0]);
    std::atomic<bool> done{false};
    size_t ctl_first = 0, ctl_peak = 0, monitor_first = 0, monitor_peak = 0;
    std::thread sampler([&] {
        while (!done) {
            Memory c = memory_of(ctl);
            if (c.rss && !ctl_first) ctl_first = c.rss;
            ctl_peak = std::max({ctl_peak, c.rss, c.hwm});
            for (pid_t m : monitors_of(daemon_->state_dir())) {
                Memory mm = memory_of(m);
                if (mm.rss && !monitor_first) monitor_first = mm.rss;
                monitor_peak = std::max({monitor_peak, mm.rss, mm.hwm});
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    std::string chunk(1 << 20, '\0');
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(i * 7 + 3);
    bool written = true;
    for (int i = 0; i < 256 && written; ++i)
        for (size_t off = 0; off < chunk.size();) {
            ssize_t n = write(in[1], chunk.data() + off, chunk.size() - off);
            if (n <= 0) {
                written = false;
                break;
            }
            off += static_cast<size_t>(n);
        }
    close(in[1]);
    int status = 0;
    waitpid(ctl, &status, 0);
    done = true;
    sampler.join();
    size_t daemon_after = memory_of(daemon_->pid()).hwm;
    EXPECT_TRUE(written);
    EXPECT_EQ(exit_code(status), 0) << read_file(dir.path() + "/err");
    // sha256 of 256 repetitions of that 1 MiB pattern (python3 -c, hashlib).
    EXPECT_EQ(read_file(dir.path() + "/out"),
              "5d85401104d493459e79fc9363977f1786eff0cdbf5c712048417cba341f3810  -\n");
    std::cout << "RSS growth KiB: trumand " << daemon_after - daemon_before << ", monitor "
              << monitor_peak - monitor_first << ", trumanctl " << ctl_peak - ctl_first
              << std::endl;
    EXPECT_GT(monitor_first, 0u);
    EXPECT_LT(daemon_after - daemon_before, 16u * 1024);
    EXPECT_LT(monitor_peak - monitor_first, 16u * 1024);
    EXPECT_LT(ctl_peak - ctl_first, 16u * 1024);
}

TEST_F(Attach, SeveralClientsSeeTheOutputAndTheFirstEofClosesStdin) {
    std::string id =
        create({"/bin/sh", "-c", "read line; echo got $line; echo bye >&2"}, true, true);
    std::string path = "/v1/containers/" + id + "/attach";
    Attached typist(*daemon_, path + "?stdin=1&stdout=1&stderr=1");
    Attached watcher(*daemon_, path + "?stdout=1");
    ASSERT_EQ(typist.head().status, 101);
    EXPECT_EQ(typist.head().header("upgrade"), "tcp");
    EXPECT_EQ(typist.head().header("content-type"), "application/vnd.docker.multiplexed-stream");
    ASSERT_EQ(watcher.head().status, 101);
    start(id);
    // Bytes go in live: the answer comes before our input ends.
    typist.send("x\n");
    EXPECT_EQ(typist.read_until("got x\n"), "got x\n");
    typist.close_input();
    auto [out, err] = typist.read_to_end();
    EXPECT_EQ(err, "bye\n");
    auto [wout, werr] = watcher.read_to_end();
    EXPECT_EQ(wout, "got x\n");
    EXPECT_EQ(werr, "");  // it asked for stdout only
    EXPECT_EQ(wait(id).value("exit_code", -1), 0);
}

TEST_F(Attach, HalfCloseIsTheProcesssEof) {
    std::string id = create({"/bin/sh", "-c", "cat; echo after-eof"}, true, true);
    Attached a(*daemon_, "/v1/containers/" + id + "/attach?stdin=1&stdout=1&stderr=1");
    ASSERT_EQ(a.head().status, 101);
    start(id);
    a.send("one\ntwo\n");
    a.close_input();
    auto [out, err] = a.read_to_end();
    EXPECT_EQ(out, "one\ntwo\nafter-eof\n");
    EXPECT_EQ(wait(id).value("exit_code", -1), 0);
}

TEST_F(Attach, DetachKeysLeaveItRunningAndAnotherAttachGetsItBack) {
    std::string id = create({"/bin/sh"}, true, false);
    start(id);
    std::string path = "/v1/containers/" + id + "/attach?stdin=1&stdout=1&stderr=1";
    {
        Attached a(*daemon_, path + "&detachKeys=ctrl-x,y");
        ASSERT_EQ(a.head().status, 101);
        a.send("echo first\n");
        EXPECT_EQ(a.read_until("first\n"), "first\n");
        a.send("\x18y");
        a.read_to_end();  // the monitor closes a detached client
    }
    EXPECT_EQ(status_of(id), "running");
    Attached again(*daemon_, path);
    ASSERT_EQ(again.head().status, 101);
    again.send("echo second; exit 3\n");
    auto [out, err] = again.read_to_end();
    EXPECT_EQ(out, "second\n");
    EXPECT_EQ(wait(id).value("exit_code", -1), 3);
}

TEST_F(Attach, BadRequestsArePlainHttpErrors) {
    std::string id = create({"/bin/true"}, false, false);
    std::string path = "/v1/containers/" + id + "/attach";
    // No upgrade asked for.
    EXPECT_EQ(client_->request("POST", path + "?stdout=1").status, 400);
    EXPECT_EQ(Attached(*daemon_, "/v1/containers/nosuchcontainer/attach?stdout=1").head().status,
              404);
    EXPECT_EQ(Attached(*daemon_, path + "?stdout=1&detachKeys=ctrl-1").head().status, 400);
    EXPECT_EQ(Attached(*daemon_, path + "?stdout=1&bogus=1").head().status, 400);
    EXPECT_EQ(Attached(*daemon_, path + "?stdout=1&stream=0").head().status, 400);
    start(id);
    wait(id);
    EXPECT_EQ(Attached(*daemon_, path + "?stdout=1").head().status, 409);
    json once_alone = {{"rootfs", busybox_rootfs()}, {"stdin_once", true}, {"network", "none"}};
    EXPECT_EQ(client_->request("POST", "/v1/containers", once_alone.dump()).status, 400);
}

TEST_F(Attach, AttachedExecStartCarriesStdinAndStreams) {
    std::string id = create({"/bin/sleep", "3600"}, false, false);
    start(id);
    json body = {{"cmd", {"/bin/sh", "-c", "cat; echo err >&2; exit 6"}}, {"stdin", true}};
    auto created = client_->request("POST", "/v1/containers/" + id + "/exec", body.dump());
    ASSERT_EQ(created.status, 201) << created.body;
    std::string exec = json::parse(created.body)["id"];
    Attached a(*daemon_, "/v1/exec/" + exec + "/start", "{}");
    ASSERT_EQ(a.head().status, 101);
    a.send("to the exec\n");
    EXPECT_EQ(a.read_until("to the exec\n"), "to the exec\n");
    a.close_input();
    auto [out, err] = a.read_to_end();
    EXPECT_EQ(err, "err\n");
    auto info = json::parse(client_->request("GET", "/v1/exec/" + exec).body);
    EXPECT_EQ(info.value("exit_code", -1), 6) << info;
    // Started once only.
    EXPECT_EQ(Attached(*daemon_, "/v1/exec/" + exec + "/start", "{}").head().status, 409);
}

TEST_F(Attach, TrumanctlExecInteractiveAndAttach) {
    auto run = ctl_with_input(ctl_args({"run", "-d", "-i", "--name", "att", "busybox", "sh"}), "");
    ASSERT_EQ(run.rc, 0) << run;
    ids_.insert(run.out.substr(0, 64));
    auto exec = ctl_with_input(ctl_args({"exec", "-i", "att", "cat"}), "foo\n");
    EXPECT_EQ(exec.rc, 0) << exec;
    EXPECT_EQ(exec.out, "foo\n");
    auto code = ctl_with_input(ctl_args({"exec", "att", "sh", "-c", "echo o; exit 4"}), "");
    EXPECT_EQ(code.rc, 4) << code;
    EXPECT_EQ(code.out, "o\n");
    // -i set stdin_once: the shell reads our two lines, and trumanctl exits with its code.
    auto attach = ctl_with_input(ctl_args({"attach", "att"}), "echo attached\nexit 5\n");
    EXPECT_EQ(attach.rc, 5) << attach;
    EXPECT_EQ(attach.out, "attached\n");
}

// --sig-proxy: a signal to trumanctl reaches the container, which decides what it means.
TEST_F(Attach, RunInteractiveForwardsSigterm) {
    int in[2];
    ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
    TempDir dir("attach-sig");
    const std::string script =
        "trap 'echo term; exit 9' TERM; read go; echo ready; while true; do sleep 0.05; done";
    pid_t ctl = spawn_ctl(ctl_args({"run", "-i", "--rm", "busybox", "sh", "-c", script}), in[0],
                          dir.path() + "/out", dir.path() + "/err");
    close(in[0]);
    // "ready" says the trap is set.
    ASSERT_EQ(write(in[1], "go\n", 3), 3);
    // Its output goes to a file: wait for the line that says the trap is set.
    auto out = [&] {
        try {
            return read_file(dir.path() + "/out");
        } catch (const std::exception&) {
            return std::string();  // not created yet
        }
    };
    for (int i = 0; i < 3000 && out().find("ready") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto err = [&] {
        try {
            return read_file(dir.path() + "/err");
        } catch (const std::exception&) {
            return std::string();
        }
    };
    ASSERT_EQ(out(), "ready\n") << "trumanctl's stderr: " << err();
    kill(ctl, SIGTERM);
    int status = 0;
    waitpid(ctl, &status, 0);
    close(in[1]);
    EXPECT_EQ(exit_code(status), 9) << read_file(dir.path() + "/err");
    EXPECT_EQ(read_file(dir.path() + "/out"), "ready\nterm\n");
}

// The 101 is written by the monitor once it holds the connection, and trumanctl starts the
// container on the 101: a line written at once, before any input is read, is never lost
// (it was, about once in ten runs, while trumand wrote the 101 before handing over).
TEST_F(Attach, RunShowsTheFirstLineEveryTime) {
    for (int i = 0; i < 50; ++i) {
        SCOPED_TRACE("run " + std::to_string(i));
        // Alternately plain run (stdout and stderr attached) and run -i (stdin too).
        bool interactive = i % 2 == 1;
        std::vector<std::string> args{"run", "--rm"};
        if (interactive) args.emplace_back("-i");
        for (const char* a : {"busybox", "sh", "-c", "echo first; echo early >&2; cat"})
            args.emplace_back(a);
        auto r = ctl_with_input(ctl_args(args), interactive ? "second\n" : "");
        ASSERT_EQ(r.rc, 0) << r;
        ASSERT_EQ(r.out, interactive ? "first\nsecond\n" : "first\n") << r;
        ASSERT_EQ(r.err, "early\n") << r;
    }
}

// attach?logs: the log so far, then the live output, from the one thread that writes both.
TEST_F(Attach, LogsReplaysTheLogThenLiveOutput) {
    std::string id = create(
        {"/bin/sh", "-c", "echo one; echo two >&2; printf part; read x; echo ial; echo three"},
        true, true);
    start(id);
    for (int i = 0; i < 3000; ++i) {
        // A stream's connection closes after it: a connection of its own each time.
        auto logs =
            HttpClient(daemon_->socket()).request("GET", "/v1/containers/" + id + "/logs").body;
        if (logs.find("two") != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Attached a(*daemon_, "/v1/containers/" + id + "/attach?logs=1&stdin=1&stdout=1&stderr=1");
    ASSERT_EQ(a.head().status, 101);
    // "part" is written but has no newline yet: it is not in the file, yet replayed once.
    EXPECT_EQ(a.read_until("part"), "one\npart");
    a.send("go\n");
    auto [out, err] = a.read_to_end();
    EXPECT_EQ(out, "one\npartial\nthree\n");
    EXPECT_EQ(err, "two\n");
    // Exited: there is nothing live to follow (the log is GET .../logs).
    Attached b(*daemon_, "/v1/containers/" + id + "/attach?logs=1&stdout=1");
    EXPECT_EQ(b.head().status, 409);
}

// Attached while it writes a line after line: every line exactly once, in order.
TEST_F(Attach, LogsAttachedMidStreamHasNoGapAndNoRepeat) {
    std::string id = create({"/bin/sh", "-c",
                             "i=0; while [ $i -lt 2000 ]; do echo $i; i=$((i+1)); "
                             "[ $((i%100)) = 0 ] && sleep 0.05; done"},
                            false, false);
    start(id);
    for (int i = 0; i < 3000; ++i) {
        // A stream's connection closes after it: a connection of its own each time.
        auto logs =
            HttpClient(daemon_->socket()).request("GET", "/v1/containers/" + id + "/logs").body;
        if (logs.find("150\n") != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Attached a(*daemon_, "/v1/containers/" + id + "/attach?logs=1&stdout=1&stderr=1");
    ASSERT_EQ(a.head().status, 101);
    auto [out, err] = a.read_to_end();
    std::string expected;
    for (int i = 0; i < 2000; ++i) expected += std::to_string(i) + "\n";
    EXPECT_EQ(out, expected);
    EXPECT_EQ(err, "");
    EXPECT_EQ(wait(id).value("exit_code", -1), 0);
}

// When the monitor cannot take the connection, nothing was written to it yet: the client
// gets a plain HTTP error, not a 101 followed by an error frame.
TEST_F(Attach, RefusedByTheMonitorIsAPlainHttpError) {
    std::string id = create({"/bin/sleep", "3600"}, false, false);
    start(id);
    // The monitor finds no such program when it starts the exec.
    json missing = {{"cmd", {"/no/such/program"}}};
    auto bad = client_->request("POST", "/v1/containers/" + id + "/exec", missing.dump());
    ASSERT_EQ(bad.status, 201) << bad.body;
    Attached refused(*daemon_,
                     "/v1/exec/" + json::parse(bad.body)["id"].get<std::string>() + "/start", "{}");
    EXPECT_EQ(refused.head().status, 400);
    // The container has exited meanwhile.
    json body = {{"cmd", {"/bin/true"}}};
    auto created = client_->request("POST", "/v1/containers/" + id + "/exec", body.dump());
    ASSERT_EQ(created.status, 201) << created.body;
    std::string exec = json::parse(created.body)["id"];
    EXPECT_EQ(client_->request("POST", "/v1/containers/" + id + "/kill?signal=KILL").status, 204);
    wait(id);
    Attached a(*daemon_, "/v1/exec/" + exec + "/start", "{}");
    EXPECT_EQ(a.head().status, 409);
}

}  // namespace
}  // namespace truman::test
