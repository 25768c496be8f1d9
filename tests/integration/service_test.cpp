// The container service end to end: real monitors, real containers, state on disk, through
// make_container_service with a temporary state and run directory and a real io_context.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <thread>

#include "cgroup_test_fixture.hpp"
#include "host_cgroups.hpp"
#include "test_support.hpp"
#include "truman/daemon/make_service.hpp"
#include "truman/daemon/names.hpp"
#include "truman/daemon/state_store.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;
using namespace truman::daemon;
using truman::ErrorKind;
using namespace std::chrono_literals;

namespace {

// Guards against a hang; never a timing assertion.
constexpr auto patience = 60s;

ErrorKind kind_of(const std::function<void()>& fn, std::string* message = nullptr) {
    try {
        fn();
    } catch (const truman::Error& e) {
        if (message) *message = e.what();
        return e.kind();
    }
    ADD_FAILURE() << "no error thrown";
    return ErrorKind::system;
}

CreateRequest busybox(const std::string& script, std::optional<std::string> name = std::nullopt) {
    CreateRequest r;
    r.name = std::move(name);
    r.image = "busybox";
    r.spec = truman::default_spec("", {"/bin/sh", "-c", script});
    return r;
}

std::vector<std::string> texts(const std::vector<LogLine>& lines) {
    std::vector<std::string> out;
    for (const auto& l : lines) out.push_back(l.stream + ":" + l.text);
    return out;
}

// Every directory of the container's cgroup under truman's parent, in any hierarchy the
// host has (v2 or v1).
std::vector<std::string> cgroup_dirs(const std::string& id) {
    return truman::test::host_cgroup_dirs("truman/" + id);
}

class ServiceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        before_ = truman::test::snapshot_host();
        io_.emplace();
        work_.emplace(io_->get_executor());
        thread_ = std::thread([this] { io_->run(); });
        service_ = make_service();
    }

    void TearDown() override {
        if (service_) {
            for (const auto& c : service_->list(std::nullopt)) {
                try {
                    service_->remove(c.id, true);
                } catch (const std::exception& e) {
                    ADD_FAILURE() << "cleanup of " << c.name << ": " << e.what();
                }
            }
        }
        service_.reset();
        work_.reset();
        io_->stop();
        thread_.join();
        io_.reset();
        EXPECT_EQ(truman::test::leaks_since(before_), "");
    }

    ServiceOptions options() const {
        ServiceOptions o;
        o.state_dir = dir_.path() + "/state";
        o.run_dir = dir_.path() + "/run";
        o.monitor_path = std::string(TRUMAN_BINARY_DIR) + "/bin/truman-monitor";
        o.busybox_path = TRUMAN_BUSYBOX;
        return o;
    }

    std::unique_ptr<ContainerService> make_service() {
        return make_container_service(*io_, options());
    }

    std::string container_dir(const std::string& id) const {
        return options().state_dir + "/containers/" + id;
    }
    // The busybox image's one layer in the store (the only layer these tests have).
    std::string image_rootfs() const {
        for (const auto& e : fs::directory_iterator(options().state_dir + "/images/layers"))
            return e.path().string() + "/diff";
        throw std::runtime_error("no busybox layer in the image store");
    }

    // Until info() counts no removal still deleting files (delete answers before that).
    bool settled() {
        for (int i = 0; i < 1000; ++i) {
            if (service_->info().pending_cleanup == 0) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

    ContainerState wait(const std::string& ref) {
        auto promise = std::make_shared<std::promise<ContainerState>>();
        auto future = promise->get_future();
        service_->async_wait(ref, [promise](std::exception_ptr e, ContainerState s) {
            if (e)
                promise->set_exception(e);
            else
                promise->set_value(s);
        });
        if (future.wait_for(patience) != std::future_status::ready)
            throw std::runtime_error("container " + ref + " did not exit");
        return future.get();
    }

    std::vector<LogLine> logs(const std::string& ref, LogOptions options = {}) {
        auto lines = std::make_shared<std::vector<LogLine>>();
        auto done = std::make_shared<std::promise<void>>();
        auto future = done->get_future();
        auto sub = service_->logs(
            ref, options, [lines](const LogLine& l) { lines->push_back(l); },
            [done] { done->set_value(); });
        if (future.wait_for(patience) != std::future_status::ready)
            throw std::runtime_error("logs of " + ref + " did not end");
        return *lines;
    }

    // Wait until the container has written `text` to its log (read from disk).
    void wait_for_output(const std::string& id, const std::string& text) {
        auto deadline = std::chrono::steady_clock::now() + patience;
        while (std::chrono::steady_clock::now() < deadline) {
            std::ifstream in(container_dir(id) + "/container.log");
            std::string all((std::istreambuf_iterator<char>(in)), {});
            if (all.find(text) != std::string::npos) return;
            std::this_thread::sleep_for(20ms);
        }
        throw std::runtime_error("no \"" + text + "\" from " + id);
    }

    // Wait until the monitor recorded the exit (no service needed).
    StoredState wait_on_disk(const std::string& id) {
        auto deadline = std::chrono::steady_clock::now() + patience;
        ContainerPaths paths(container_dir(id));
        while (std::chrono::steady_clock::now() < deadline) {
            StoredState s = read_state(paths);
            if (s.state.status == Status::exited) return s;
            std::this_thread::sleep_for(20ms);
        }
        throw std::runtime_error(id + " did not exit");
    }

    truman::test::HostSnapshot before_;
    truman::test::TempDir dir_{"tsvc"};
    std::optional<boost::asio::io_context> io_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::thread thread_;
    std::unique_ptr<ContainerService> service_;
};

}  // namespace

TEST_F(ServiceTest, CreateStartWaitRecordsExitCodeAndLogsBothStreams) {
    std::string id =
        service_->create(busybox("echo out1; echo err1 >&2; echo out2; exit 7", "first"));
    EXPECT_EQ(id.size(), 64u);
    ContainerInfo info = service_->inspect("first");
    EXPECT_EQ(info.id, id);
    EXPECT_EQ(info.image, "busybox");
    EXPECT_EQ(info.state.status, Status::created);
    EXPECT_GT(info.state.pid, 0);
    EXPECT_EQ(service_->inspect(id.substr(0, 6)).name, "first");

    service_->start(id);
    ContainerState state = wait(id);
    EXPECT_EQ(state.status, Status::exited);
    EXPECT_EQ(state.exit_code, 7);
    EXPECT_EQ(state.signal, 0);
    EXPECT_FALSE(state.started_at.empty());
    EXPECT_FALSE(state.finished_at.empty());
    EXPECT_EQ(service_->inspect(id).state.exit_code, 7);
    EXPECT_EQ(read_state(ContainerPaths(container_dir(id))).state.exit_code, 7);

    auto all = logs(id);
    // The two pipes are read independently: order holds within a stream.
    std::vector<std::string> out, err;
    for (const auto& l : all) (l.stream == "stdout" ? out : err).push_back(l.text);
    EXPECT_EQ(out, (std::vector<std::string>{"out1", "out2"}));
    EXPECT_EQ(err, (std::vector<std::string>{"err1"}));
    for (const auto& l : all) EXPECT_EQ(l.time.size(), 30u) << l.time;

    LogOptions stderr_only;
    stderr_only.stdout_stream = false;
    EXPECT_EQ(texts(logs(id, stderr_only)), std::vector<std::string>{"stderr:err1"});
    LogOptions last;
    last.tail = 1;
    last.stderr_stream = false;
    EXPECT_EQ(texts(logs(id, last)), std::vector<std::string>{"stdout:out2"});

    EXPECT_EQ(service_->list(Status::exited).size(), 1u);
    EXPECT_TRUE(service_->list(Status::running).empty());
    DaemonInfo daemon = service_->info();
    EXPECT_EQ(daemon.exited, 1u);
    EXPECT_FALSE(daemon.kernel.empty());
    EXPECT_TRUE(daemon.cgroup_mode == "v1" || daemon.cgroup_mode == "v2") << daemon.cgroup_mode;
}

TEST_F(ServiceTest, FollowingLogsEndsAfterTheLastLine) {
    std::string id = service_->create(busybox("for i in 1 2 3; do echo line$i; sleep 0.1; done"));
    auto lines = std::make_shared<std::vector<LogLine>>();
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    LogOptions follow;
    follow.follow = true;
    auto sub = service_->logs(
        id, follow, [lines](const LogLine& l) { lines->push_back(l); },
        [done] { done->set_value(); });
    service_->start(id);
    ASSERT_EQ(future.wait_for(patience), std::future_status::ready);
    EXPECT_EQ(texts(*lines),
              (std::vector<std::string>{"stdout:line1", "stdout:line2", "stdout:line3"}));
    EXPECT_EQ(service_->inspect(id).state.status, Status::exited);
}

TEST_F(ServiceTest, ContainersFromOneImageDoNotSeeEachOthersFilesAndTheImageIsUnchanged) {
    std::string passwd = truman::test::read_file(image_rootfs() + "/etc/passwd");
    std::string a = service_->create(
        busybox("echo secret > /tmp/mine; echo intruder:x:9:9::/:/bin/sh >> /etc/passwd; "
                "rm /bin/ls; cat /tmp/mine"));
    service_->start(a);
    ASSERT_EQ(wait(a).exit_code, 0);
    EXPECT_EQ(texts(logs(a)), std::vector<std::string>{"stdout:secret"});

    std::string b = service_->create(
        busybox("test -e /tmp/mine && echo seen || echo unseen; grep -c intruder /etc/passwd; "
                "test -e /bin/ls && echo ls"));
    service_->start(b);
    ASSERT_EQ(wait(b).exit_code, 0);
    EXPECT_EQ(texts(logs(b)), (std::vector<std::string>{"stdout:unseen", "stdout:0", "stdout:ls"}));

    // The writes went to a's own layer; the image is untouched.
    EXPECT_TRUE(fs::exists(container_dir(a) + "/upper/tmp/mine"));
    EXPECT_FALSE(fs::exists(image_rootfs() + "/tmp/mine"));
    EXPECT_TRUE(fs::is_symlink(image_rootfs() + "/bin/ls"));
    EXPECT_EQ(truman::test::read_file(image_rootfs() + "/etc/passwd"), passwd);
    // The overlay lived in the container's mount namespace only.
    EXPECT_EQ(truman::test::read_file("/proc/self/mountinfo").find(container_dir(a)),
              std::string::npos);
}

TEST_F(ServiceTest, RemoveCleansDirectoryCgroupAndLayer) {
    // Files in the overlay's upper layer, for the removal to delete after the reply.
    std::string id = service_->create(
        busybox("mkdir -p /tmp/a/b && for i in 1 2 3 4 5 6 7 8; do echo $i > /tmp/a/b/$i; done; "
                "echo up; sleep 1000",
                "doomed"));
    service_->start(id);
    wait_for_output(id, "\"up\"");
    EXPECT_FALSE(cgroup_dirs(id).empty()) << "a running container has a cgroup";
    // Its init is in every one of its directories, v1 ones joined by the init itself
    // (Cgroup::open_join_files), the cgroup2 one at clone3; so is an exec into it.
    pid_t init = service_->inspect(id).state.pid;
    std::string exec_id = service_->create_exec(id, [] {
        truman::daemon::ExecRequest r;
        r.cmd = {"sleep", "1000"};
        return r;
    }());
    pid_t exec = service_->start_exec(exec_id).pid;
    for (const auto& dir : cgroup_dirs(id)) {
        EXPECT_TRUE(truman::test::lists_pid(dir, init)) << dir;
        EXPECT_TRUE(truman::test::lists_pid(dir, exec)) << dir;
    }
    EXPECT_TRUE(fs::exists(options().run_dir + "/" + id + "/monitor.sock"));

    std::string message;
    EXPECT_EQ(kind_of([&] { service_->remove("doomed", false); }, &message), ErrorKind::conflict);
    EXPECT_NE(message.find("running"), std::string::npos) << message;
    EXPECT_EQ(service_->inspect(id).state.status, Status::running);

    EXPECT_EQ(service_->info().pending_cleanup, 0u);
    ASSERT_TRUE(fs::exists(container_dir(id) + "/upper/tmp/a/b/8"));
    service_->remove("doomed", true);
    // The settled point: when remove returns nothing of it runs, its id and name are free,
    // and its directory is out of its name; its files may still be being deleted, counted.
    EXPECT_FALSE(fs::exists(container_dir(id)));
    EXPECT_FALSE(fs::exists(options().run_dir + "/" + id));
    EXPECT_EQ(cgroup_dirs(id), std::vector<std::string>{});
    EXPECT_EQ(kind_of([&] { service_->inspect(id); }), ErrorKind::not_found);
    // The name is free again.
    std::string again = service_->create(busybox("true", "doomed"));
    EXPECT_NE(again, id);
    ASSERT_TRUE(settled());
    EXPECT_FALSE(fs::exists(removing_dir_name(container_dir(id))));
}

TEST_F(ServiceTest, RemovingACreatedContainerEndsItsParkedProcess) {
    std::string id = service_->create(busybox("echo never"));
    ContainerInfo info = service_->inspect(id);
    pid_t pid = info.state.pid;
    pid_t monitor = read_state(ContainerPaths(container_dir(id))).monitor_pid;
    ASSERT_GT(pid, 0);
    ASSERT_EQ(kill(pid, 0), 0);
    ASSERT_EQ(kill(monitor, 0), 0);
    service_->remove(id, false);  // not running: no force needed
    EXPECT_FALSE(fs::exists(container_dir(id)));
    // Both are gone (at most a zombie until init reaps the monitor).
    for (pid_t p : {pid, monitor}) {
        std::string stat;
        try {
            stat = truman::test::read_file("/proc/" + std::to_string(p) + "/stat");
        } catch (const std::exception&) {
        }
        EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << stat;
    }
    EXPECT_EQ(cgroup_dirs(id), std::vector<std::string>{});
}

TEST_F(ServiceTest, KillAndStop) {
    std::string killed = service_->create(busybox("sleep 1000"));
    EXPECT_EQ(kind_of([&] { service_->kill(killed, 9); }), ErrorKind::conflict);  // not started
    service_->start(killed);
    EXPECT_EQ(kind_of([&] { service_->kill(killed, 0); }), ErrorKind::invalid);
    EXPECT_EQ(kind_of([&] { service_->kill(killed, 65); }), ErrorKind::invalid);
    service_->kill(killed, SIGKILL);
    ContainerState k = wait(killed);
    EXPECT_EQ(k.signal, SIGKILL);
    EXPECT_EQ(k.exit_code, 137);
    EXPECT_EQ(kind_of([&] { service_->kill(killed, 9); }), ErrorKind::conflict);  // exited

    // Handles SIGTERM: stop ends it through its trap.
    std::string polite = service_->create(
        busybox("trap 'echo bye; exit 5' TERM; echo ready; while true; do sleep 0.05; done"));
    service_->start(polite);
    wait_for_output(polite, "\"ready\"");
    auto stopped = std::make_shared<std::promise<void>>();
    service_->async_stop(polite, 30s, 0, [stopped](std::exception_ptr e) {
        if (e)
            stopped->set_exception(e);
        else
            stopped->set_value();
    });
    auto f1 = stopped->get_future();
    ASSERT_EQ(f1.wait_for(patience), std::future_status::ready);
    f1.get();
    EXPECT_EQ(service_->inspect(polite).state.exit_code, 5);
    EXPECT_EQ(texts(logs(polite)), (std::vector<std::string>{"stdout:ready", "stdout:bye"}));

    // Ignores SIGTERM (as PID 1 without a handler does): SIGKILL after the timeout.
    std::string stubborn = service_->create(busybox("trap '' TERM; echo ready; sleep 1000"));
    service_->start(stubborn);
    wait_for_output(stubborn, "\"ready\"");
    auto stopped2 = std::make_shared<std::promise<void>>();
    service_->async_stop(stubborn, 1s, 0, [stopped2](std::exception_ptr e) {
        if (e)
            stopped2->set_exception(e);
        else
            stopped2->set_value();
    });
    auto f2 = stopped2->get_future();
    ASSERT_EQ(f2.wait_for(patience), std::future_status::ready);
    f2.get();
    EXPECT_EQ(service_->inspect(stubborn).state.signal, SIGKILL);
}

TEST_F(ServiceTest, ErrorsHaveKindsAndLeaveNothing) {
    std::string message;
    CreateRequest unknown = busybox("true");
    unknown.image = "no-such-image";
    EXPECT_EQ(kind_of([&] { service_->create(unknown); }, &message), ErrorKind::not_found);
    EXPECT_NE(message.find("no-such-image"), std::string::npos) << message;
    EXPECT_EQ(kind_of([&] { service_->create(busybox("true", "bad/name")); }, &message),
              ErrorKind::invalid);
    EXPECT_EQ(message.rfind("name", 0), 0u) << message;

    CreateRequest both = busybox("true");
    both.spec.root.path = image_rootfs();
    EXPECT_EQ(kind_of([&] { service_->create(both); }), ErrorKind::invalid);
    CreateRequest missing_root = busybox("true");
    missing_root.image.clear();
    missing_root.spec.root.path = dir_.path() + "/nope";
    EXPECT_EQ(kind_of([&] { service_->create(missing_root); }, &message), ErrorKind::not_found);
    EXPECT_EQ(message.rfind("rootfs: ", 0), 0u) << message;
    CreateRequest file_root = missing_root;
    file_root.spec.root.path = image_rootfs() + "/etc/passwd";
    EXPECT_EQ(kind_of([&] { service_->create(file_root); }, &message), ErrorKind::invalid);
    EXPECT_EQ(message.rfind("rootfs: ", 0), 0u) << message;
    CreateRequest empty_args = busybox("true");
    empty_args.spec.process.args.clear();
    EXPECT_EQ(kind_of([&] { service_->create(empty_args); }), ErrorKind::invalid);

    // A failure inside the container's set-up comes back with the monitor's message.
    CreateRequest bad_mount = busybox("true");
    bad_mount.spec.mounts.push_back({"/mnt", "bind", dir_.path() + "/no-such-source", {"bind"}});
    EXPECT_NE(kind_of([&] { service_->create(bad_mount); }, &message), ErrorKind::invalid);
    EXPECT_NE(message.find("no-such-source"), std::string::npos) << message;

    EXPECT_TRUE(fs::is_empty(options().state_dir + "/containers"));
    // Nothing of the failed containers is left; only the monitors' shared seccomp cache.
    for (auto& e : fs::directory_iterator(options().run_dir))
        EXPECT_EQ(e.path().filename(), "seccomp-cache") << e.path();
    EXPECT_TRUE(service_->list(std::nullopt).empty());

    std::string id = service_->create(busybox("sleep 1000", "taken"));
    EXPECT_EQ(kind_of([&] { service_->create(busybox("true", "taken")); }, &message),
              ErrorKind::conflict);
    EXPECT_NE(message.find("taken"), std::string::npos) << message;
    service_->start(id);
    EXPECT_EQ(kind_of([&] { service_->start(id); }), ErrorKind::conflict);
    EXPECT_EQ(kind_of([&] { service_->remove(id, false); }), ErrorKind::conflict);
    EXPECT_EQ(kind_of([&] { service_->inspect("nothing-like-it"); }), ErrorKind::not_found);
    EXPECT_EQ(kind_of([&] { service_->start("nothing-like-it"); }), ErrorKind::not_found);
    // The asynchronous calls report through their callback.
    EXPECT_EQ(kind_of([&] { wait("nothing-like-it"); }), ErrorKind::not_found);
    auto stopped = std::make_shared<std::promise<void>>();
    service_->async_stop("nothing-like-it", 1s, 0, [stopped](std::exception_ptr e) {
        if (e)
            stopped->set_exception(e);
        else
            stopped->set_value();
    });
    auto stop_result = stopped->get_future();
    ASSERT_EQ(stop_result.wait_for(patience), std::future_status::ready);
    EXPECT_EQ(kind_of([&] { stop_result.get(); }), ErrorKind::not_found);

    // execve failing is the start's error; the container is then exited.
    std::string nope = service_->create([] {
        CreateRequest r = busybox("");
        r.spec.process.args = {"/bin/no-such-program"};
        return r;
    }());
    EXPECT_NE(kind_of([&] { service_->start(nope); }, &message), ErrorKind::conflict);
    EXPECT_NE(message.find("no-such-program"), std::string::npos) << message;
    EXPECT_EQ(wait(nope).status, Status::exited);
}

// The monitor's error reaches the caller whole: the errno of the step that failed in the
// container's set-up or exec, not one guessed from the error's kind.
TEST_F(ServiceTest, MonitorErrorsKeepTheirErrno) {
    CreateRequest missing_cwd = busybox("true");
    missing_cwd.spec.process.cwd = "/no-such-directory";
    try {
        service_->create(missing_cwd);
        ADD_FAILURE() << "created with a missing working directory";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
        EXPECT_EQ(e.err(), ENOENT) << e.what();
        EXPECT_NE(std::string(e.what()).find("/no-such-directory"), std::string::npos);
    }
    CreateRequest missing_program = busybox("");
    missing_program.spec.process.args = {"/bin/no-such-program"};
    std::string id = service_->create(missing_program);
    try {
        service_->start(id);
        ADD_FAILURE() << "started a missing program";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
        EXPECT_EQ(e.err(), ENOENT) << e.what();
    }
    EXPECT_EQ(wait(id).status, Status::exited);
}

TEST_F(ServiceTest, EventsFollowTheLifecycleInOrder) {
    auto events = std::make_shared<std::map<std::string, std::vector<Event>>>();
    auto mutex = std::make_shared<std::mutex>();
    auto destroyed = std::make_shared<std::promise<void>>();
    auto destroys = std::make_shared<int>(0);
    auto sub = service_->events([=](const Event& e) {
        std::lock_guard lock(*mutex);
        (*events)[e.id].push_back(e);
        if (e.type == "destroy" && ++*destroys == 2) destroyed->set_value();
    });
    // Exits at once: "die" can be noticed before start() returns, and still comes after "start".
    std::string quick = service_->create(busybox("exit 4", "evented"));
    service_->start(quick);
    wait(quick);
    service_->remove(quick, false);
    std::string killed = service_->create(busybox("sleep 1000"));
    service_->start(killed);
    service_->kill(killed, SIGKILL);
    wait(killed);
    service_->remove(killed, false);
    ASSERT_EQ(destroyed->get_future().wait_for(patience), std::future_status::ready);

    std::lock_guard lock(*mutex);
    auto types = [&](const std::string& id) {
        std::vector<std::string> out;
        for (const auto& e : (*events)[id]) {
            out.push_back(e.type);
            EXPECT_EQ(e.id, id);
            if (e.type == "die") out.back() += "=" + std::to_string(e.exit_code.value_or(-99));
        }
        return out;
    };
    EXPECT_EQ(types(quick), (std::vector<std::string>{"create", "start", "die=4", "destroy"}));
    EXPECT_EQ((*events)[quick].front().name, "evented");
    EXPECT_EQ(types(killed),
              (std::vector<std::string>{"create", "start", "kill", "die=137", "destroy"}));
    sub->cancel();
}

TEST_F(ServiceTest, ContainersOutliveTheServiceAndAreFoundAgain) {
    truman::test::TempDir shared("tsvc-shared");
    chmod(shared.path().c_str(), 0777);
    auto waiting_for = [&](const std::string& file, int code) {
        CreateRequest r =
            busybox("echo before; while [ ! -e /shared/" + file +
                    " ]; do sleep 0.05; done; echo after; exit " + std::to_string(code));
        r.spec.mounts.push_back({"/shared", "bind", shared.path(), {"bind"}});
        return r;
    };
    std::string exits_meanwhile = service_->create(waiting_for("go1", 3));
    std::string keeps_running = service_->create(waiting_for("go2", 4));
    std::string never_started = service_->create(busybox("true"));
    service_->start(exits_meanwhile);
    service_->start(keeps_running);
    wait_for_output(exits_meanwhile, "\"before\"");
    wait_for_output(keeps_running, "\"before\"");

    service_.reset();  // trumand goes away
    // SIGTERM/SIGHUP to a monitor do not disturb it either.
    pid_t monitor = read_state(ContainerPaths(container_dir(exits_meanwhile))).monitor_pid;
    ASSERT_EQ(kill(monitor, SIGTERM), 0);
    ASSERT_EQ(kill(monitor, SIGHUP), 0);
    std::ofstream(shared.path() + "/go1") << "";
    StoredState recorded = wait_on_disk(exits_meanwhile);
    EXPECT_EQ(recorded.state.exit_code, 3);

    // A corrupt entry (a crash mid-way, a disk error) is skipped, not fatal.
    std::string corrupt = options().state_dir + "/containers/" + std::string(64, 'c');
    fs::create_directories(corrupt);
    std::ofstream(corrupt + "/meta.json") << "{\"id\": ";
    service_ = make_service();  // trumand is back
    EXPECT_EQ(service_->list(std::nullopt).size(), 3u);
    EXPECT_EQ(service_->inspect(exits_meanwhile).state.status, Status::exited);
    EXPECT_EQ(service_->inspect(exits_meanwhile).state.exit_code, 3);
    EXPECT_EQ(texts(logs(exits_meanwhile)),
              (std::vector<std::string>{"stdout:before", "stdout:after"}));
    EXPECT_EQ(service_->inspect(keeps_running).state.status, Status::running);
    EXPECT_EQ(service_->inspect(never_started).state.status, Status::created);

    // The new service watches the surviving monitor: wait and start work across the restart.
    std::ofstream(shared.path() + "/go2") << "";
    EXPECT_EQ(wait(keeps_running).exit_code, 4);
    EXPECT_EQ(texts(logs(keeps_running)),
              (std::vector<std::string>{"stdout:before", "stdout:after"}));
    service_->start(never_started);
    EXPECT_EQ(wait(never_started).exit_code, 0);
}

TEST_F(ServiceTest, AMonitorKilledWithoutRecordingTheExitIsReported) {
    std::string id = service_->create(busybox("echo up; sleep 1000"));
    service_->start(id);
    wait_for_output(id, "\"up\"");
    pid_t monitor = read_state(ContainerPaths(container_dir(id))).monitor_pid;
    pid_t init = service_->inspect(id).state.pid;
    ASSERT_EQ(kill(monitor, SIGKILL), 0);
    ContainerState state = wait(id);
    EXPECT_EQ(state.status, Status::exited);
    EXPECT_EQ(state.exit_code, -1);
    StoredState on_disk = read_state(ContainerPaths(container_dir(id)));
    EXPECT_FALSE(on_disk.reason.empty());
    // The orphaned container was ended through its cgroup and the cgroup removed.
    EXPECT_EQ(cgroup_dirs(id), std::vector<std::string>{});
    std::string stat;
    try {
        stat = truman::test::read_file("/proc/" + std::to_string(init) + "/stat");
    } catch (const std::exception&) {
    }
    EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << stat;
}

TEST_F(ServiceTest, BlockedSyscallsAreAnsweredAndRecorded) {
    // mount(2) is outside the default seccomp profile: denied with EPERM, and the monitor
    // (which answers the notification) records it in seccomp.log.
    std::string id = service_->create(busybox("mount -t tmpfs none /mnt || echo denied"));
    service_->start(id);
    EXPECT_EQ(wait(id).exit_code, 0);
    std::vector<std::string> lines = texts(logs(id));
    EXPECT_NE(std::find(lines.begin(), lines.end(), "stdout:denied"), lines.end())
        << ::testing::PrintToString(lines);
    std::string recorded = truman::test::read_file(container_dir(id) + "/seccomp.log");
    EXPECT_NE(recorded.find("\"syscall\":\"mount\""), std::string::npos) << recorded;
}

TEST_F(ServiceTest, OomKillIsReportedWithAnEvent) {
    auto oom_seen = std::make_shared<std::promise<void>>();
    auto once = std::make_shared<std::once_flag>();
    auto sub = service_->events([=](const Event& e) {
        if (e.type == "oom") std::call_once(*once, [&] { oom_seen->set_value(); });
    });
    // A command substitution keeps all of its output in the shell's memory.
    CreateRequest r = busybox("x=$(head -c 500000000 /dev/zero | tr '\\0' a); echo survived");
    r.spec.linux.resources.memory.limit = 32 * 1024 * 1024;
    std::string id = service_->create(r);
    service_->start(id);
    ContainerState state = wait(id);
    EXPECT_TRUE(state.oom_killed) << "exit " << *state.exit_code << " signal " << state.signal
                                  << ::testing::PrintToString(texts(logs(id)));
    EXPECT_EQ(oom_seen->get_future().wait_for(patience), std::future_status::ready);
}

TEST_F(ServiceTest, LogsAreCappedAndRotated) {
    ServiceOptions small = options();
    small.log_max_bytes = 4096;
    service_.reset();
    service_ = make_container_service(*io_, small);
    std::string id =
        service_->create(busybox("i=0; while [ $i -lt 500 ]; do echo line$i; i=$((i+1)); done"));
    service_->start(id);
    ASSERT_EQ(wait(id).exit_code, 0);
    EXPECT_LE(fs::file_size(container_dir(id) + "/container.log"), 4096u);
    EXPECT_LE(fs::file_size(container_dir(id) + "/container.log.1"), 4096u);
    std::vector<LogLine> lines = logs(id);
    ASSERT_FALSE(lines.empty());
    EXPECT_LT(lines.size(), 500u);
    EXPECT_EQ(lines.back().text, "line499");
    // The newest lines, in order, without a gap.
    int first = std::stoi(lines.front().text.substr(4));
    for (size_t i = 0; i < lines.size(); ++i)
        EXPECT_EQ(lines[i].text, "line" + std::to_string(first + static_cast<int>(i)));
}

// <run-dir>/<64-hex id>/monitor.sock is far over sun_path's 107 bytes here: the monitor
// binds, and the service connects, through /proc/self/fd/N of the directory.
TEST_F(ServiceTest, ALongRunDirStillReachesTheMonitor) {
    ServiceOptions deep = options();
    deep.run_dir = dir_.path() + "/" + std::string(60, 'r') + "/run";
    ASSERT_GT(deep.run_dir.size() + 1 + 64 + std::string("/monitor.sock").size(), 108u);
    service_.reset();
    service_ = make_container_service(*io_, deep);
    std::string id = service_->create(busybox("echo deep"));
    EXPECT_TRUE(fs::exists(deep.run_dir + "/" + id + "/monitor.sock"));
    service_->start(id);
    EXPECT_EQ(wait(id).exit_code, 0);
    EXPECT_EQ(texts(logs(id)), std::vector<std::string>{"stdout:deep"});
    std::string sleeper = service_->create(busybox("exec sleep 1000"));
    service_->start(sleeper);
    service_->kill(sleeper, SIGKILL);
    EXPECT_EQ(wait(sleeper).signal, SIGKILL);
    service_->remove(id, false);
    service_->remove(sleeper, false);
}

TEST_F(ServiceTest, ConcurrentCreatesOfOneNameYieldOneContainer) {
    std::atomic<int> created{0}, conflicts{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&] {
            try {
                service_->create(busybox("true", "contested"));
                ++created;
            } catch (const truman::Error& e) {
                if (e.kind() == ErrorKind::conflict) ++conflicts;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(created, 1);
    EXPECT_EQ(conflicts, 3);
    EXPECT_EQ(service_->list(std::nullopt).size(), 1u);
    // Only the winner's directory exists.
    EXPECT_EQ(std::distance(fs::directory_iterator(options().state_dir + "/containers"),
                            fs::directory_iterator{}),
              1);
}

// Run in a child process by SurvivesTheDaemonBeingSigkilled (the test binary runs itself):
// a "trumand" that creates and starts a container and is then SIGKILLed.
TEST(ServiceCrashHelper, DISABLED_StartAContainerThenDieBySigkill) {
    const char* state = getenv("TRUMAN_TEST_STATE_DIR");
    const char* run = getenv("TRUMAN_TEST_RUN_DIR");
    const char* shared = getenv("TRUMAN_TEST_SHARED_DIR");
    ASSERT_TRUE(state && run && shared);
    boost::asio::io_context io;
    ServiceOptions o;
    o.state_dir = state;
    o.run_dir = run;
    o.monitor_path = std::string(TRUMAN_BINARY_DIR) + "/bin/truman-monitor";
    o.busybox_path = TRUMAN_BUSYBOX;
    auto service = make_container_service(io, o);
    CreateRequest r =
        busybox("echo before; while [ ! -e /shared/go ]; do sleep 0.05; done; echo after; exit 42",
                "crashy");
    r.spec.mounts.push_back({"/shared", "bind", shared, {"bind"}});
    service->start(service->create(r));
    raise(SIGKILL);
}

TEST_F(ServiceTest, SurvivesTheDaemonBeingSigkilled) {
    truman::test::TempDir shared("tsvc-shared");
    chmod(shared.path().c_str(), 0777);
    service_.reset();  // the helper is the daemon now
    std::string command =
        "TRUMAN_TEST_STATE_DIR=" + options().state_dir +
        " TRUMAN_TEST_RUN_DIR=" + options().run_dir + " TRUMAN_TEST_SHARED_DIR=" + shared.path() +
        " " + std::string(TRUMAN_BINARY_DIR) + "/bin/truman_integration_tests" +
        " --gtest_also_run_disabled_tests" +
        " --gtest_filter=ServiceCrashHelper.DISABLED_StartAContainerThenDieBySigkill";
    std::string output;
    ASSERT_EQ(truman::test::run_host(command, &output), 128 + SIGKILL) << output;

    service_ = make_service();
    ContainerInfo info = service_->inspect("crashy");
    EXPECT_EQ(info.state.status, Status::running);
    wait_for_output(info.id, "\"before\"");
    std::ofstream(shared.path() + "/go") << "";
    EXPECT_EQ(wait("crashy").exit_code, 42);
    EXPECT_EQ(texts(logs("crashy")), (std::vector<std::string>{"stdout:before", "stdout:after"}));
}

TEST_F(ServiceTest, MissingMonitorIsASystemErrorAndLeavesNothing) {
    ServiceOptions broken = options();
    broken.state_dir = dir_.path() + "/other-state";
    broken.run_dir = dir_.path() + "/other-run";
    broken.monitor_path = dir_.path() + "/no-such-monitor";
    auto service = make_container_service(*io_, broken);
    std::string message;
    EXPECT_EQ(kind_of([&] { service->create(busybox("true", "orphan")); }, &message),
              ErrorKind::system);
    EXPECT_NE(message.find("no-such-monitor"), std::string::npos) << message;
    EXPECT_TRUE(fs::is_empty(broken.state_dir + "/containers"));
    EXPECT_TRUE(service->list(std::nullopt).empty());
    // The name was released with the failed attempt.
    EXPECT_EQ(kind_of([&] { service->create(busybox("true", "orphan")); }), ErrorKind::system);

    // A monitor that dies without a word.
    service.reset();
    broken.monitor_path = "/bin/false";
    service = make_container_service(*io_, broken);
    EXPECT_EQ(kind_of([&] { service->create(busybox("true", "orphan")); }, &message),
              ErrorKind::system);
    EXPECT_NE(message.find("exited without reporting"), std::string::npos) << message;
    EXPECT_TRUE(fs::is_empty(broken.state_dir + "/containers"));
}

// A monitor that only gets to run after the trumand that spawned it died (killed between
// posix_spawn and the monitor's exec) must not touch the container: the restarted trumand
// has abandoned it and may be removing its directory. Its sync pipe has no reader then.
TEST_F(ServiceTest, AMonitorWhoseDaemonDiedBeforeItRanTouchesNothing) {
    std::string container = dir_.path() + "/late/container", run = dir_.path() + "/late/run";
    fs::create_directories(container);
    fs::create_directories(run);
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    close(fds[0]);  // the dead trumand's end
    std::string monitor = std::string(TRUMAN_BINARY_DIR) + "/bin/truman-monitor";
    std::string sync = std::to_string(fds[1]);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        fcntl(fds[1], F_SETFD, 0);
        execl(monitor.c_str(), monitor.c_str(), "--container-dir", container.c_str(), "--run-dir",
              run.c_str(), "--sync-fd", sync.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(fds[1]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 3);
    EXPECT_TRUE(fs::is_empty(container));
    EXPECT_TRUE(fs::is_empty(run));
}

TEST_F(ServiceTest, RootfsContainerUsesTheGivenDirectory) {
    std::string rootfs = dir_.path() + "/my-rootfs";
    truman::test::make_busybox_rootfs(rootfs);
    CreateRequest r;
    r.spec = truman::default_spec(rootfs, {"/bin/sh", "-c", "echo written > /tmp/hello; hostname"});
    r.spec.hostname.clear();
    std::string id = service_->create(r);
    ContainerInfo info = service_->inspect(id);
    EXPECT_EQ(info.image, "");
    EXPECT_EQ(info.rootfs, rootfs);
    service_->start(id);
    EXPECT_EQ(wait(id).exit_code, 0);
    // No layer: the write lands in the directory itself. The hostname defaults to the short id.
    EXPECT_EQ(truman::test::read_file(rootfs + "/tmp/hello"), "written\n");
    EXPECT_EQ(texts(logs(id)), std::vector<std::string>{"stdout:" + id.substr(0, 12)});
    EXPECT_FALSE(fs::exists(container_dir(id) + "/upper"));
    service_->remove(id, false);
    EXPECT_TRUE(fs::exists(rootfs + "/bin/busybox")) << "remove leaves a given rootfs alone";
}

TEST_F(ServiceTest, ACreateInterruptedByADaemonCrashIsRecordedAsExited) {
    // What a trumand killed between writing meta.json and hearing from the monitor leaves.
    service_.reset();
    std::string id = generate_id();
    ContainerPaths paths(container_dir(id));
    fs::create_directories(paths.dir());
    write_meta(paths, {id, "interrupted", "busybox", paths.rootfs(), {"true"}, "t"});
    service_ = make_service();
    ContainerInfo info = service_->inspect("interrupted");
    EXPECT_EQ(info.state.status, Status::exited);
    EXPECT_EQ(info.state.exit_code, -1);
    EXPECT_FALSE(read_state(paths).reason.empty());
    service_->remove("interrupted", false);
    EXPECT_FALSE(fs::exists(paths.dir()));
    ASSERT_TRUE(settled());
    EXPECT_FALSE(fs::exists(removing_dir_name(paths.dir())));
}

namespace {

// A process whose command line is `line`, as a monitor's (or its container's first process's,
// which is a clone of it) is; in a PID namespace of its own when new_pid_namespace. Returns
// the process that carries the line; *parent is the process to reap (itself, or unshare).
pid_t spawn_with_command_line(const std::string& line, bool new_pid_namespace, pid_t* parent) {
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LINE", line.c_str(), 1);
        const char* script = "exec -a \"$LINE\" sleep 100";
        if (new_pid_namespace)
            execlp("unshare", "unshare", "--pid", "--fork", "bash", "-c", script,
                   static_cast<char*>(nullptr));
        else
            execlp("bash", "bash", "-c", script, static_cast<char*>(nullptr));
        _exit(127);
    }
    *parent = pid;
    for (int i = 0; i < 500; ++i) {
        std::vector<pid_t> candidates{pid};
        std::ifstream children("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                               "/children");
        for (pid_t child; children >> child;) candidates.push_back(child);
        for (pid_t p : candidates) {
            std::ifstream cmdline("/proc/" + std::to_string(p) + "/cmdline");
            std::string text((std::istreambuf_iterator<char>(cmdline)), {});
            if (text.rfind(line, 0) == 0) return p;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
}

}  // namespace

// trumand killed in the middle of a create, then restarted: the monitor it finds by its
// command line is killed; the container's own first process (a clone of the monitor until it
// execs, in the container's PID namespace) is not waited for there: it may be in a cgroup a
// cut-short kill_all left frozen, where no SIGKILL ends it, and start-up would hang. The
// cgroup cleanup ends it.
TEST_F(ServiceTest, AnInterruptedCreateKillsItsMonitorAndLeavesTheContainerToItsCgroup) {
    service_.reset();
    std::string id = generate_id();
    ContainerPaths paths(container_dir(id));
    fs::create_directories(paths.dir());
    write_meta(paths, {id, "cut", "busybox", paths.rootfs(), {"true"}, "t"});
    std::string line = "truman-monitor --container-dir " + paths.dir();
    pid_t monitor_parent = -1, container_parent = -1;
    pid_t monitor = spawn_with_command_line(line, false, &monitor_parent);
    pid_t container = spawn_with_command_line(line, true, &container_parent);
    ASSERT_GT(monitor, 0);
    ASSERT_GT(container, 0);
    ASSERT_NE(container, container_parent);

    service_ = make_service();
    int status = 0;
    EXPECT_EQ(waitpid(monitor_parent, &status, 0), monitor_parent);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    // Alive, not a zombie that kill(pid, 0) would still answer for.
    std::ifstream stat("/proc/" + std::to_string(container) + "/stat");
    std::string pid_field, comm, state;
    stat >> pid_field >> comm >> state;
    EXPECT_EQ(state, "S") << "a process of the container's PID namespace was killed";
    EXPECT_EQ(service_->inspect("cut").state.status, Status::exited);

    kill(container, SIGKILL);
    EXPECT_EQ(waitpid(container_parent, &status, 0), container_parent);
    service_->remove("cut", false);
}

// Pushed, not polled: the line reaches the follower while the container still runs (it waits
// for a byte only this test sends, after seeing the line), and the end comes with the exit.
TEST_F(ServiceTest, FollowingLogsDeliversLinesAsTheyAreWritten) {
    std::string id = service_->create(busybox("mkfifo /tmp/go; echo ready; read x < /tmp/go"));
    auto lines = std::make_shared<std::vector<LogLine>>();
    auto ready = std::make_shared<std::promise<void>>();
    auto done = std::make_shared<std::promise<void>>();
    auto ready_future = ready->get_future();
    auto done_future = done->get_future();
    LogOptions follow;
    follow.follow = true;
    auto sub = service_->logs(
        id, follow,
        [lines, ready](const LogLine& l) {
            lines->push_back(l);
            if (l.text == "ready") ready->set_value();
        },
        [done] { done->set_value(); });
    service_->start(id);
    ASSERT_EQ(ready_future.wait_for(patience), std::future_status::ready);
    EXPECT_EQ(service_->inspect(id).state.status, Status::running);
    EXPECT_EQ(done_future.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
    service_->kill(id, SIGKILL);
    ASSERT_EQ(done_future.wait_for(patience), std::future_status::ready);
    EXPECT_EQ(texts(*lines), std::vector<std::string>{"stdout:ready"});
}
