// Terminals (issue 12): a container or an exec created with tty gets a pty of the container's
// own devpts as its stdio and controlling terminal, held by the monitor; attach carries raw
// bytes; resize sets the window size. The API is driven directly, and trumanctl run -it,
// attach and exec -it through a real terminal (tmux on a private socket).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_support.hpp"
#include "tmux.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kCtl = std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl";

// An upgraded connection whose stream is raw bytes (a terminal).
class RawAttached {
  public:
    RawAttached(const TrumandProcess& daemon, const std::string& target,
                const std::string& body = "")
        : client_(daemon.socket()) {
        client_.send_raw("POST " + target +
                         " HTTP/1.1\r\nHost: truman\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                         "Content-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body);
        head_ = client_.read_head();
        if (head_.status == 101) out_ = client_.take_buffered();
    }
    const HttpResponse& head() const { return head_; }
    void send(const std::string& bytes) { client_.send_raw(bytes); }
    // Reads until the output holds text; false if the connection closed first.
    bool read_until(const std::string& text, int timeout_ms = 30000) {
        while (out_.find(text) == std::string::npos)
            if (!receive(timeout_ms)) return false;
        return true;
    }
    std::string read_to_end(int timeout_ms = 30000) {
        while (receive(timeout_ms)) {
        }
        return out_;
    }
    const std::string& output() const { return out_; }

  private:
    bool receive(int timeout_ms) {
        pollfd p{client_.fd(), POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) throw std::runtime_error("attach: timed out: " + out_);
        char buf[65536];
        ssize_t n = recv(client_.fd(), buf, sizeof buf, 0);
        if (n <= 0) return false;
        out_.append(buf, static_cast<size_t>(n));
        return true;
    }
    HttpClient client_;
    HttpResponse head_;
    std::string out_;
};

class Terminal : public ::testing::Test {
  protected:
    void SetUp() override {
        busybox_rootfs();
        daemon_ = std::make_unique<TrumandProcess>();
        client_ = std::make_unique<HttpClient>(daemon_->socket());
    }
    void TearDown() override {
        tmux_.reset();
        client_.reset();
        EXPECT_EQ(daemon_->remove_all_containers(), std::vector<std::string>{});
        EXPECT_EQ(container_leaks(*daemon_, ids_), "");
        if (HasFailure()) std::cerr << "trumand log:\n" << daemon_->log();
        daemon_.reset();
    }

    std::string create(const std::vector<std::string>& cmd, bool tty, bool open_stdin,
                       const std::string& name = "") {
        json body = {{"rootfs", busybox_rootfs()},
                     {"cmd", cmd},
                     {"network", "none"},
                     {"tty", tty},
                     {"open_stdin", open_stdin}};
        if (!name.empty()) body["name"] = name;
        auto r = client_->request("POST", "/v1/containers", body.dump());
        EXPECT_EQ(r.status, 201) << r.body;
        std::string id = json::parse(r.body).value("id", "");
        ids_.insert(id);
        return id;
    }
    int post(const std::string& path) { return client_->request("POST", path).status; }
    json wait(const std::string& id) {
        return json::parse(client_->request("POST", "/v1/containers/" + id + "/wait").body);
    }
    std::string logs(const std::string& id) {
        return client_->request("GET", "/v1/containers/" + id + "/logs").body;
    }
    std::string status_of(const std::string& id) {
        auto r = client_->request("GET", "/v1/containers/" + id);
        return json::parse(r.body)["state"].value("status", "");
    }
    std::string ctl() const { return kCtl + " --socket " + daemon_->socket(); }
    std::string id_named(const std::string& name) {
        auto r = client_->request("GET", "/v1/containers/" + name);
        std::string id = json::parse(r.body).value("id", "");
        if (!id.empty()) ids_.insert(id);
        return id;
    }

    std::unique_ptr<TrumandProcess> daemon_;
    std::unique_ptr<HttpClient> client_;
    std::unique_ptr<Tmux> tmux_ = std::make_unique<Tmux>();
    TempDir dir_{"truman-tty"};
    std::set<std::string> ids_;
};

// Inside: fd 0 is /dev/pts/0 of the container's own devpts, and PID 1 has it as its
// controlling terminal (/dev/tty opens); the output, with the terminal's CRLF, is in the log.
TEST_F(Terminal, InitGetsAPtyOfItsOwnDevptsAsControllingTerminal) {
    std::string id = create({"/bin/sh", "-c",
                             "readlink /proc/self/fd/0; readlink /proc/self/fd/2; echo pid $$; "
                             "echo via-tty > /dev/tty && echo has-ctty; ls -1 /dev/pts"},
                            true, false);
    ASSERT_EQ(post("/v1/containers/" + id + "/start"), 204);
    EXPECT_EQ(wait(id).value("exit_code", -1), 0);
    std::string out = logs(id);
    EXPECT_EQ(out, "/dev/pts/0\r\n/dev/pts/0\r\npid 1\r\nvia-tty\r\nhas-ctty\r\n0\r\nptmx\r\n");
}

TEST_F(Terminal, AttachIsRawAndResizeReachesTheTerminal) {
    std::string id = create({"/bin/sh", "-c", "read x; stty size; echo done"}, true, true);
    RawAttached a(*daemon_, "/v1/containers/" + id + "/attach?stream=1&stdin=1&stdout=1");
    ASSERT_EQ(a.head().status, 101);
    EXPECT_EQ(a.head().header("content-type"), "application/vnd.docker.raw-stream");
    ASSERT_EQ(post("/v1/containers/" + id + "/start"), 204);
    ASSERT_EQ(post("/v1/containers/" + id + "/resize?h=33&w=101"), 204);
    a.send("go\r");
    std::string out = a.read_to_end();
    // The terminal echoes what we typed, then the shell answers; no frame headers.
    EXPECT_EQ(out, "go\r\n33 101\r\ndone\r\n");
    EXPECT_EQ(wait(id).value("exit_code", -1), 0);
}

TEST_F(Terminal, ResizeRefusesBadSizesAndContainersWithoutOne) {
    std::string tty = create({"/bin/sleep", "3600"}, true, false);
    std::string plain = create({"/bin/sleep", "3600"}, false, false);
    std::string path = "/v1/containers/" + tty + "/resize";
    EXPECT_EQ(post(path + "?h=24&w=80"), 409);  // created, not running
    ASSERT_EQ(post("/v1/containers/" + tty + "/start"), 204);
    ASSERT_EQ(post("/v1/containers/" + plain + "/start"), 204);
    EXPECT_EQ(post(path + "?h=24&w=80"), 204);
    EXPECT_EQ(post(path + "?h=0&w=80"), 400);
    EXPECT_EQ(post(path + "?h=24&w=65536"), 400);
    EXPECT_EQ(post(path + "?h=24"), 400);
    EXPECT_EQ(post(path + "?h=x&w=80"), 400);
    EXPECT_EQ(post(path + "?h=24&w=80&bogus=1"), 400);
    EXPECT_EQ(post("/v1/containers/" + plain + "/resize?h=24&w=80"), 409);
    EXPECT_EQ(post("/v1/containers/nosuchcontainer/resize?h=24&w=80"), 404);
    EXPECT_EQ(post("/v1/exec/nosuchexec/resize?h=24&w=80"), 404);
}

// The monitor holds the master: the terminal, and an attached client, outlive trumand.
TEST_F(Terminal, TerminalSurvivesATrumandRestart) {
    std::string id = create({"/bin/sh"}, true, true);
    ASSERT_EQ(post("/v1/containers/" + id + "/start"), 204);
    daemon_->kill_hard();
    daemon_->start();
    client_ = std::make_unique<HttpClient>(daemon_->socket());
    RawAttached a(*daemon_, "/v1/containers/" + id + "/attach?stream=1&stdin=1&stdout=1");
    ASSERT_EQ(a.head().status, 101);
    a.send("echo $((6*7))\r");
    EXPECT_TRUE(a.read_until("42\r\n")) << a.output();
    a.send("exit 5\r");
    a.read_to_end();
    EXPECT_EQ(wait(id).value("exit_code", -1), 5);
}

// An exec's own terminal: a new pty of the container's devpts, owned by the exec's user.
TEST_F(Terminal, ExecGetsItsOwnPtyOwnedByItsUser) {
    std::string id = create({"/bin/sleep", "3600"}, false, false);
    ASSERT_EQ(post("/v1/containers/" + id + "/start"), 204);
    json body = {
        {"cmd", {"/bin/sh", "-c", "readlink /proc/self/fd/0; stat -L -c %u /proc/self/fd/0"}},
        {"tty", true},
        {"user", "1000:1000"}};
    auto created = client_->request("POST", "/v1/containers/" + id + "/exec", body.dump());
    ASSERT_EQ(created.status, 201) << created.body;
    std::string exec = json::parse(created.body)["id"];
    RawAttached a(*daemon_, "/v1/exec/" + exec + "/start", "{}");
    ASSERT_EQ(a.head().status, 101);
    EXPECT_EQ(a.head().header("content-type"), "application/vnd.docker.raw-stream");
    EXPECT_EQ(a.read_to_end(), "/dev/pts/0\r\n1000\r\n");
    auto info = json::parse(client_->request("GET", "/v1/exec/" + exec).body);
    EXPECT_EQ(info.value("exit_code", -1), 0) << info;
}

TEST_F(Terminal, RunItShellThroughARealTerminal) {
    std::string rc = dir_.path() + "/rc";
    tmux_->start("run", ctl() + " run -it --rm busybox sh", rc);
    ASSERT_NE(tmux_->wait_for("run", "/ #").find("/ #"), std::string::npos) << tmux_->screen("run");
    tmux_->type("run", "echo $((6*7))");
    EXPECT_NE(tmux_->wait_for("run", "\n42\n").find("\n42\n"), std::string::npos)
        << tmux_->screen("run");
    tmux_->type("run", "stty size");
    EXPECT_NE(tmux_->wait_for("run", "24 80").find("24 80"), std::string::npos)
        << tmux_->screen("run");
    tmux_->resize("run", 100, 30);
    tmux_->type("run", "clear; stty size");
    EXPECT_NE(tmux_->wait_for("run", "30 100").find("30 100"), std::string::npos)
        << tmux_->screen("run");
    // ^C interrupts the sleep (the terminal's foreground job), not the shell.
    tmux_->type("run", "sleep 100; echo after-$?");
    std::this_thread::sleep_for(300ms);
    // (The interrupted list is abandoned, so "after" never shows; the shell's $? says 130.)
    tmux_->keys("run", {"C-c"});
    tmux_->type("run", "echo still-$?");
    EXPECT_NE(tmux_->wait_for("run", "still-130").find("still-130"), std::string::npos)
        << tmux_->screen("run");
    tmux_->type("run", "exit 3");
    EXPECT_EQ(Tmux::exit_code(rc), 3) << tmux_->screen("run");
}

TEST_F(Terminal, DetachKeysLeaveItRunningAndAttachGetsItBack) {
    std::string name = unique_name("tty");
    std::string rc = dir_.path() + "/rc";
    tmux_->start("run", ctl() + " run -it --name " + name + " busybox sh", rc);
    ASSERT_NE(tmux_->wait_for("run", "/ #").find("/ #"), std::string::npos) << tmux_->screen("run");
    std::string id = id_named(name);
    tmux_->keys("run", {"C-p", "C-q"});
    EXPECT_EQ(Tmux::exit_code(rc), 0) << tmux_->screen("run");
    EXPECT_EQ(status_of(id), "running");
    std::string rc2 = dir_.path() + "/rc2";
    tmux_->start("attach", ctl() + " attach " + name, rc2);
    tmux_->type("attach", "echo back-$((40+2))");
    EXPECT_NE(tmux_->wait_for("attach", "back-42").find("back-42"), std::string::npos)
        << tmux_->screen("attach");
    tmux_->type("attach", "exit 4");
    EXPECT_EQ(Tmux::exit_code(rc2), 4) << tmux_->screen("attach");
}

TEST_F(Terminal, ExecItThroughARealTerminal) {
    std::string name = unique_name("tty");
    auto created = client_->request("POST", "/v1/containers",
                                    json({{"rootfs", busybox_rootfs()},
                                          {"cmd", {"/bin/sleep", "3600"}},
                                          {"network", "none"},
                                          {"name", name}})
                                        .dump());
    ASSERT_EQ(created.status, 201) << created.body;
    ids_.insert(json::parse(created.body)["id"]);
    ASSERT_EQ(post("/v1/containers/" + name + "/start"), 204);
    std::string rc = dir_.path() + "/rc";
    tmux_->start("exec", ctl() + " exec -it " + name + " sh", rc);
    ASSERT_NE(tmux_->wait_for("exec", "/ #").find("/ #"), std::string::npos)
        << tmux_->screen("exec");
    tmux_->type("exec", "readlink /proc/self/fd/0; stty size");
    EXPECT_NE(tmux_->wait_for("exec", "24 80").find("/dev/pts/0"), std::string::npos)
        << tmux_->screen("exec");
    tmux_->resize("exec", 90, 20);
    tmux_->type("exec", "clear; stty size");
    EXPECT_NE(tmux_->wait_for("exec", "20 90").find("20 90"), std::string::npos)
        << tmux_->screen("exec");
    tmux_->type("exec", "exit 6");
    EXPECT_EQ(Tmux::exit_code(rc), 6) << tmux_->screen("exec");
    EXPECT_EQ(status_of(name), "running");
}

}  // namespace
}  // namespace truman::test
