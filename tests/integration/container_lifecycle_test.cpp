// Container lifecycle on the real kernel: create (parked), start, wait, kill, destroy, and the
// failure paths, each with a leak check.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "container_helpers.hpp"
#include "test_support.hpp"
#include "truman/cgroups.hpp"
#include "truman/container.hpp"
#include "truman/error.hpp"

using namespace truman;
using namespace truman::test;

namespace {
CreateOptions options_for(const std::string& prefix) {
    CreateOptions o;
    o.id = unique_name(prefix);
    return o;
}

// A cgroup that fails every operation (while *fail) the way a kernel can: what release()
// must report instead of swallowing. The container itself runs in no cgroup at all.
class FailingCgroup final : public Cgroup {
  public:
    FailingCgroup(const bool* fail, int* destroys) : fail_(fail), destroys_(destroys) {}
    void add_process(pid_t) override {}
    CgroupStats stats() const override { return {}; }
    bool oom_killed() const override {
        if (*fail_) throw system_error("read memory.events", EIO);
        return false;
    }
    void kill_all() override {
        if (*fail_) throw make_error(ErrorKind::system, "cgroup.procs still lists 7", EBUSY);
    }
    void destroy() override {
        ++*destroys_;
        if (*fail_) throw system_error("rmdir /fake/cgroup", EBUSY);
    }
    std::string path() const override { return "/fake/cgroup"; }

  private:
    const bool* fail_;
    int* destroys_;
};

class FailingCgroups final : public CgroupManager {
  public:
    CgroupMode mode() const override { return CgroupMode::v1; }
    std::unique_ptr<Cgroup> create(const std::string&, const ContainerSpec&) override {
        return std::make_unique<FailingCgroup>(&fail, &destroys);
    }
    std::unique_ptr<Cgroup> open(const std::string&) override { return nullptr; }
    bool fail = true;
    int destroys = 0;
};

// Expect create() to fail with a message containing `needle`, and nothing left behind.
void expect_create_fails(const ContainerSpec& spec, const std::string& needle) {
    auto before = snapshot_host();
    try {
        auto c = Container::create(spec, options_for("fail"));
        ADD_FAILURE() << "create succeeded, expected: " << needle;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_EQ(leaks_since(before), "");
}
}  // namespace

TEST(ContainerLifecycle, CreateParksTheProcessBeforeExec) {
    auto before = snapshot_host();
    TempDir dir;
    std::string marker = dir.path() + "/ran";
    ContainerSpec spec = busybox_spec("touch /mnt/ran");
    spec.mounts.push_back({"/mnt", "bind", dir.path(), {"bind"}});
    {
        auto c = Container::create(spec, options_for("park"));
        ASSERT_GT(c->pid(), 0);
        EXPECT_EQ(kill(c->pid(), 0), 0) << "the host sees a valid, live PID";
        // Parked: still our own program (not sh), and the command has not run.
        std::string cmdline = read_file("/proc/" + std::to_string(c->pid()) + "/cmdline");
        EXPECT_EQ(cmdline.find("/bin/sh"), std::string::npos);
        usleep(50 * 1000);
        EXPECT_FALSE(std::filesystem::exists(marker));
        c->start();
        EXPECT_EQ(c->wait().exit_code, 0);
        EXPECT_TRUE(std::filesystem::exists(marker));
    }
    EXPECT_EQ(leaks_since(before), "");
}

TEST(ContainerLifecycle, WaitReturnsTheExitCode) {
    auto r = run_container(busybox_spec("exit 3"));
    EXPECT_EQ(r.status.exit_code, 3);
    EXPECT_EQ(r.status.signal, 0);
}

TEST(ContainerLifecycle, WaitReportsDeathBySignal) {
    auto before = snapshot_host();
    {
        // PID 1 of a namespace only receives, from the host, SIGKILL/SIGSTOP and signals it
        // has a handler for: SIGKILL is the one that always ends it.
        auto c = Container::create(busybox_spec("sleep 30"), options_for("sig"));
        c->start();
        c->kill(SIGKILL);
        ExitStatus s = c->wait();
        EXPECT_EQ(s.signal, SIGKILL);
        EXPECT_EQ(s.exit_code, 137);
    }
    {
        // Without a PID namespace, sleep is no init and dies of SIGTERM's default action.
        ContainerSpec spec = default_spec(busybox_rootfs(), {"sleep", "30"});
        std::erase_if(spec.linux.namespaces, [](auto& n) { return n.type == NamespaceType::pid; });
        auto c = Container::create(spec, options_for("sig"));
        c->start();
        c->kill(SIGTERM);
        ExitStatus s = c->wait();
        EXPECT_EQ(s.signal, SIGTERM);
        EXPECT_EQ(s.exit_code, 128 + SIGTERM);
    }
    EXPECT_EQ(leaks_since(before), "");
}

TEST(ContainerLifecycle, DestroyBeforeStartKillsTheParkedProcess) {
    auto before = snapshot_host();
    pid_t pid;
    {
        auto c = Container::create(busybox_spec("exit 0"), options_for("unstarted"));
        pid = c->pid();
        c->destroy();
        c->destroy();  // idempotent
    }
    EXPECT_NE(kill(pid, 0), 0);
    EXPECT_EQ(leaks_since(before), "");
}

TEST(ContainerLifecycle, DestroyReportsEveryFailedStepAndRetriesIt) {
    auto before = snapshot_host();
    FailingCgroups cgroups;
    CreateOptions options = options_for("failing");
    options.cgroups = &cgroups;
    {
        auto c = Container::create(busybox_spec("exit 3"), options);
        c->start();
        // The OOM state cannot be read, but the exit is known all the same.
        EXPECT_EQ(c->wait().exit_code, 3);
        try {
            c->destroy();
            ADD_FAILURE() << "destroy() hid the failures";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::system);
            EXPECT_EQ(e.err(), EIO);  // the first failure's
            EXPECT_EQ(std::string(e.what()),
                      "container " + options.id +
                          ": tell whether the OOM killer struck: read memory.events: "
                          "Input/output error; kill the processes in its cgroup: "
                          "cgroup.procs still lists 7: Device or resource busy; remove its "
                          "cgroup: rmdir /fake/cgroup: Device or resource busy");
        }
        EXPECT_EQ(cgroups.destroys, 1);
        // What failed is retried by the next destroy(), and only that is reported.
        try {
            c->destroy();
            ADD_FAILURE() << "destroy() hid the failures";
        } catch (const Error& e) {
            EXPECT_EQ(e.err(), EBUSY);
            EXPECT_EQ(std::string(e.what()).find("OOM"), std::string::npos) << e.what();
        }
        EXPECT_EQ(cgroups.destroys, 2);
        cgroups.fail = false;
        c->destroy();
        EXPECT_EQ(cgroups.destroys, 3);
        c->destroy();  // done: nothing is tried again
        EXPECT_EQ(cgroups.destroys, 3);
    }
    EXPECT_EQ(leaks_since(before), "");
}

TEST(ContainerLifecycle, StartTwiceIsAConflict) {
    auto c = Container::create(busybox_spec("exit 0"), options_for("twice"));
    c->start();
    try {
        c->start();
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::conflict);
    }
    c->wait();
}

TEST(ContainerLifecycle, ContainerSeesOnlyDescriptors0To2) {
    // A stray descriptor without O_CLOEXEC in the caller must not reach the container.
    int stray = open("/dev/null", O_RDONLY);
    ASSERT_GE(stray, 3);
    auto r = run_container(busybox_spec("ls /proc/self/fd"));
    close(stray);
    EXPECT_EQ(r.status.exit_code, 0) << r.out;
    // ls's own directory descriptor is 3.
    EXPECT_EQ(r.out, "0\n1\n2\n3\n");
}

TEST(ContainerLifecycle, MissingRootfsIsAPreciseErrorAndLeavesNothing) {
    ContainerSpec spec = busybox_spec("exit 0");
    spec.root.path = "/nonexistent/truman-rootfs";
    expect_create_fails(spec, "mount the root filesystem: No such file or directory");
}

TEST(ContainerLifecycle, BadMountIsNamedWithItsTarget) {
    ContainerSpec spec = busybox_spec("exit 0");
    spec.mounts.push_back({"/mnt", "nosuchfs", "none", {}});
    expect_create_fails(spec, "mount nosuchfs on /mnt: No such device");
}

TEST(ContainerLifecycle, MissingCwdIsNamed) {
    ContainerSpec spec = busybox_spec("exit 0");
    spec.process.cwd = "/does/not/exist";
    expect_create_fails(spec, "chdir /does/not/exist: No such file or directory");
}

TEST(ContainerLifecycle, InvalidSpecIsRejectedBeforeAnyProcess) {
    ContainerSpec spec = busybox_spec("exit 0");
    spec.root.path = "relative/root";
    expect_create_fails(spec, "root.path");
    spec = busybox_spec("exit 0");
    spec.process.args.clear();
    expect_create_fails(spec, "process.args");
}

TEST(ContainerLifecycle, MissingCommandFailsAtStartWithExecveError) {
    auto before = snapshot_host();
    {
        ContainerSpec spec = default_spec(busybox_rootfs(), {"/bin/nope"});
        auto c = Container::create(spec, options_for("noexec"));
        try {
            c->start();
            FAIL();
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()), "execve /bin/nope: No such file or directory");
        }
    }
    EXPECT_EQ(leaks_since(before), "");
}

TEST(ContainerLifecycle, CommandIsLookedUpInPath) {
    ContainerSpec spec = default_spec(busybox_rootfs(), {"echo", "found"});
    auto r = run_container(spec);
    EXPECT_EQ(r.status.exit_code, 0);
    EXPECT_EQ(r.out, "found\n");
}

TEST(ContainerLifecycle, CloneWithoutPrivilegeFailsWithEperm) {
    // A child that is not root tries to create namespaces without a user namespace.
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
        try {
            Container::create(busybox_spec("exit 0"), options_for("eperm"));
            _exit(3);
        } catch (const Error& e) {
            _exit(std::string(e.what()) == "clone3: Operation not permitted" ? 0 : 4);
        } catch (...) {
            _exit(5);
        }
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ContainerLifecycle, HundredContainersLeakNothing) {
    auto before = snapshot_host();
    for (int i = 0; i < 100; ++i) {
        auto r = run_container(busybox_spec("exit 0"));
        ASSERT_EQ(r.status.exit_code, 0);
    }
    EXPECT_EQ(leaks_since(before), "");
}
