// exec in core (issue 12): a second process joins a running container -- its namespaces,
// cgroup and confinement -- and neither a host descriptor, a host directory nor the host
// binary doing the exec reaches it.
#include "truman/exec.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "container_helpers.hpp"
#include "host_cgroups.hpp"
#include "test_support.hpp"
#include "truman/capabilities.hpp"
#include "truman/cgroups.hpp"
#include "truman/container.hpp"
#include "truman/error.hpp"
#include "truman/sealed_exe.hpp"

using namespace truman;
using namespace truman::test;
namespace fs = std::filesystem;

namespace {

const std::string kParent = "truman-exec-" + std::to_string(getpid());

struct ExecResult {
    ExitStatus status;
    std::string out;  // stdout and stderr, interleaved
};

// exec spec in c, capture its output to EOF, wait for it.
ExecResult run_exec(Container& c, ExecSpec spec) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    spec.stdout_fd = fds[1];
    spec.stderr_fd = fds[1];
    std::unique_ptr<ExecProcess> p;
    try {
        p = c.exec(spec);
    } catch (...) {
        close(fds[0]);
        close(fds[1]);
        throw;
    }
    close(fds[1]);
    ExecResult r;
    char buf[4096];
    for (;;) {
        struct pollfd pf[2] = {{fds[0], POLLIN, 0}, {p->seccomp_fd(), POLLIN, 0}};
        if (poll(pf, p->seccomp_fd() >= 0 ? 2 : 1, -1) < 0) continue;
        if (pf[1].revents & POLLIN) p->handle_seccomp();
        if (!(pf[0].revents & (POLLIN | POLLHUP))) continue;
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        r.out.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    r.status = p->wait();
    return r;
}

ExecSpec sh(const std::string& script) {
    ExecSpec s;
    s.args = {"/bin/sh", "-c", script};
    return s;
}

std::string ns_link(pid_t pid, const char* ns) {
    return fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + ns).string();
}

// A container whose processes may ptrace, without a user namespace of its own.
ContainerSpec ptrace_spec(const std::string& rootfs) {
    ContainerSpec spec = default_spec(rootfs, {"/bin/sleep", "1000"});
    Capabilities caps;
    caps.bounding = caps.effective = caps.permitted = {"CAP_SYS_PTRACE", "CAP_KILL"};
    spec.process.capabilities = caps;
    return spec;
}

std::string hex_caps(const ContainerSpec& spec) {
    char text[32];
    snprintf(
        text, sizeof text, "%016llx",
        static_cast<unsigned long long>(capability_masks(spec.process.capabilities).effective));
    return text;
}

std::string sha256_of(const std::string& path) {
    std::string out;
    FILE* f = popen(("sha256sum " + path).c_str(), "r");
    if (!f) return out;
    char buf[256];
    while (fgets(buf, sizeof buf, f)) out += buf;
    pclose(f);
    return out.substr(0, 64);
}

// A fork of ours born in c's PID namespace with the container's capabilities, dumpable,
// until go's write end (the other one of the pipe, closed in the fork) is closed.
pid_t fork_into(Container& c, int go, int go_write) {
    int own = ::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (own < 0 || ::setns(c.pidfd(), CLONE_NEWPID) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        ::close(go_write);
        ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        char byte;
        while (read(go, &byte, 1) == 1) {
        }
        _exit(0);
    }
    ::setns(own, CLONE_NEWPID);
    ::close(own);
    return pid;
}

// Its PID inside its own PID namespace.
std::string ns_pid_of(pid_t pid) {
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    std::string nspid = status.substr(status.find("NSpid:"));
    nspid = nspid.substr(0, nspid.find('\n'));
    return nspid.substr(nspid.rfind('\t') + 1);
}

class Exec : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        rootfs_ = new TempDir("truman-exec-root");
        make_busybox_rootfs(rootfs_->path());
        fs::copy_file(std::string(TRUMAN_BINARY_DIR) + "/bin/truman-probe",
                      rootfs_->path() + "/bin/probe");
        fs::create_directories(rootfs_->path() + "/a/b");
        fs::create_symlink("../../../../../../..", rootfs_->path() + "/a/b/up");
        fs::create_symlink("/../../..", rootfs_->path() + "/absup");
        fs::create_symlink("/proc/self/fd/3", rootfs_->path() + "/fdlink");
        fs::create_symlink("/tmp", rootfs_->path() + "/tmplink");
        // A run killed before its TearDownTestSuite left its parent cgroup behind.
        remove_stale_cgroup_parents("truman-exec-");
        cgroups_ = detect_cgroups("/sys/fs/cgroup", kParent).release();
    }
    static void TearDownTestSuite() {
        delete cgroups_;
        for (const auto& leak : remove_cgroup_parent(kParent))
            ADD_FAILURE() << "cgroup left behind: " << leak;
        delete rootfs_;
    }

    void SetUp() override { before_ = snapshot_host(); }
    void TearDown() override {
        if (container_) container_->destroy();
        container_.reset();
        EXPECT_EQ(leaks_since(before_), "");
    }

    // A running container whose init sleeps; the test's execs join it.
    Container& start(ContainerSpec spec) {
        container_ = Container::create(spec, make_options(unique_name("exec"), cgroups_));
        container_->start();
        return *container_;
    }
    Container& start() { return start(default_spec(rootfs_->path(), {"/bin/sleep", "1000"})); }

    static TempDir* rootfs_;
    static CgroupManager* cgroups_;
    HostSnapshot before_;
    std::unique_ptr<Container> container_;
};
TempDir* Exec::rootfs_ = nullptr;
CgroupManager* Exec::cgroups_ = nullptr;

}  // namespace

TEST_F(Exec, JoinsEveryNamespaceOfTheInit) {
    Container& c = start();
    ExecResult r =
        run_exec(c, sh("for n in mnt uts ipc net pid cgroup; do readlink /proc/self/ns/$n; done; "
                       "echo pid $$; cat /proc/1/cmdline | tr '\\0' ' '; echo"));
    ASSERT_EQ(r.status.exit_code, 0) << r.out;
    std::string want;
    for (const char* ns : {"mnt", "uts", "ipc", "net", "pid", "cgroup"})
        want += ns_link(c.pid(), ns) + "\n";
    // In the container's PID namespace: the init is its PID 1, the exec another PID there.
    EXPECT_EQ(r.out.substr(0, want.size()), want) << r.out;
    EXPECT_NE(r.out.find("/bin/sleep 1000 \n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("pid 1\n"), std::string::npos) << r.out;
}

TEST_F(Exec, JoinsTheUserNamespaceFirst) {
    ContainerSpec spec = default_spec(rootfs_->path(), {"/bin/sleep", "1000"});
    add_user_namespace(spec, 200000, 65536);
    fs::permissions(rootfs_->path(), fs::perms::all, fs::perm_options::add);
    Container& c = start(spec);
    ExecResult r = run_exec(c, sh("readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u"));
    ASSERT_EQ(r.status.exit_code, 0) << r.out;
    EXPECT_EQ(r.out.substr(0, r.out.find('\n')), ns_link(c.pid(), "user")) << r.out;
    EXPECT_NE(r.out.find("200000"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1), "0\n") << r.out;
}

TEST_F(Exec, HasTheInitsConfinementAndCgroup) {
    ContainerSpec spec = default_spec(rootfs_->path(), {"/bin/sleep", "1000"});
    spec.process.rlimits.push_back({"RLIMIT_NOFILE", 200, 100});
    spec.process.user.umask = 077;
    Container& c = start(spec);
    // Everything that confines a process, as the kernel reports it for the init and for us.
    const char* fields = "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' ";
    ExecResult init = run_exec(c, sh(std::string(fields) + "/proc/1/status; cat /proc/1/cgroup"));
    ExecResult self = run_exec(
        c, sh(std::string(fields) + "/proc/self/status; cat /proc/self/cgroup; ulimit -n; umask"));
    ASSERT_EQ(self.status.exit_code, 0) << self.out;
    ASSERT_EQ(init.status.exit_code, 0) << init.out;
    EXPECT_EQ(self.out.substr(0, init.out.size()), init.out);
    EXPECT_NE(init.out.find("Seccomp:\t2"), std::string::npos) << init.out;
    EXPECT_NE(init.out.find("NoNewPrivs:\t1"), std::string::npos) << init.out;
    EXPECT_EQ(self.out.substr(init.out.size()), "100\n0077\n");
}

TEST_F(Exec, ReportsExitCodesAndSignals) {
    Container& c = start();
    EXPECT_EQ(run_exec(c, sh("exit 7")).status.exit_code, 7);
    ExecResult killed = run_exec(c, sh("kill -9 $$"));
    EXPECT_EQ(killed.status.signal, 9);
    EXPECT_EQ(killed.status.exit_code, 137);
    ExecSpec t;
    t.args = {"true"};  // through the container's PATH
    EXPECT_EQ(run_exec(c, t).status.exit_code, 0);
}

TEST_F(Exec, RunsAsAnotherUserWithItsEnvAndCwd) {
    ContainerSpec spec = default_spec(rootfs_->path(), {"/bin/sleep", "1000"});
    spec.process.env.push_back("FOO=container");
    spec.process.env.push_back("KEEP=kept");
    Container& c = start(spec);
    ExecSpec s = sh("id -u; id -g; id -G; echo $FOO $KEEP $NEW; pwd");
    s.user = User{1000, 1001, {}, std::nullopt};
    s.env = {"FOO=exec", "NEW=new"};
    s.cwd = "/tmp";
    ExecResult r = run_exec(c, s);
    ASSERT_EQ(r.status.exit_code, 0) << r.out;
    EXPECT_EQ(r.out, "1000\n1001\n1001\nexec kept new\n/tmp\n");
    s = sh("pwd -P");
    s.cwd = "/tmplink";  // a link inside the root is followed there
    EXPECT_EQ(run_exec(c, s).out, "/tmp\n");
}

// runc CVE-2024-21626: the monitor holds directories (the container's cgroup, its state
// directory through the log) and sockets; none of them may reach the exec'd process, and no
// cwd -- ".."-laden or a link -- may lead out of the root.
TEST_F(Exec, NoHostDescriptorOrDirectoryReachesTheProcess) {
    Container& c = start();
    int stray = ::open("/", O_RDONLY | O_DIRECTORY);  // NOLINT: deliberately inheritable
    ASSERT_GE(stray, 0);
    for (const char* cwd : {"/", "/../../..", "/a/b/up", "/absup", "/a/../../../a/b"}) {
        ExecSpec s;
        s.args = {"/bin/sh", "-c", "/bin/probe fds; /bin/probe cwd; readlink /proc/self/cwd"};
        s.cwd = cwd;
        ExecResult r = run_exec(c, s);
        std::string want = std::string(cwd) == "/a/../../../a/b" ? "/a/b" : "/";
        EXPECT_EQ(r.out, "fds: EBADF (9)\ncwd: " + want + "\ncwd: ok\n" + want + "\n") << cwd;
    }
    ::close(stray);
    // A magic link as cwd is refused by the child while resolving, before any program runs.
    ExecSpec s = sh("true");
    s.cwd = "/fdlink";
    try {
        run_exec(c, s);
        ADD_FAILURE() << "a cwd through /proc/self/fd/3 was entered";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
        EXPECT_EQ(e.err(), ELOOP) << e.what();
        EXPECT_EQ(e.field(), "cwd") << e.what();
    }
}

// runc CVE-2019-5736: the child is in the container's PID namespace from birth, so the
// container sees it while it is still the host's binary -- and, after capset, holds no more
// capabilities than the container, so only "dumpable" keeps the container's root from
// opening its /proc/<pid>/exe. The caller of exec is non-dumpable, so every child is born so.
// Stand-in for a child caught in that window: a process of the caller's made the same way
// (pid_for_children set to the container's), with the container's capabilities.
TEST_F(Exec, TheHostBinaryIsNotReachableFromInside) {
    Container& c = start();
    run_exec(c, sh("true"));
    ASSERT_EQ(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);

    int go[2];
    ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
    int own = ::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(own, 0);
    ASSERT_EQ(::setns(c.pidfd(), CLONE_NEWPID), 0);
    CapabilityMasks masks = capability_masks(std::nullopt);  // the container's (Docker's)
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    for (int i = 0; i < 2; ++i) {
        data[i].effective = static_cast<uint32_t>(masks.effective >> (32 * i));
        data[i].permitted = static_cast<uint32_t>(masks.permitted >> (32 * i));
    }
    pid_t pid = fork();
    if (pid == 0) {
        ::close(go[1]);
        if (::syscall(SYS_capset, &header, data) != 0) _exit(1);
        char byte;
        while (read(go[0], &byte, 1) == 1) ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        _exit(0);
    }
    ASSERT_EQ(::setns(own, CLONE_NEWPID), 0);
    ::close(own);
    ::close(go[0]);
    ASSERT_GT(pid, 0);
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    std::string nspid = status.substr(status.find("NSpid:"));
    nspid = nspid.substr(0, nspid.find('\n'));
    nspid = nspid.substr(nspid.rfind('\t') + 1);
    std::string probe = "readlink /proc/" + nspid + "/exe || echo refused";
    ExecResult hidden = run_exec(c, sh(probe));
    // The probe works: made dumpable, the same process shows the host binary.
    ASSERT_EQ(write(go[1], "x", 1), 1);
    ExecResult shown;
    for (int i = 0; i < 100 && shown.out.find("truman") == std::string::npos; ++i)
        shown = run_exec(c, sh(probe));
    ::close(go[1]);
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT_EQ(hidden.out.find("truman"), std::string::npos) << hidden.out;
    EXPECT_NE(hidden.out.find("refused"), std::string::npos) << hidden.out;
    EXPECT_NE(shown.out.find("truman_integration_tests"), std::string::npos) << shown.out;

    // Where non-dumpable is not enough -- CAP_SYS_PTRACE without a user namespace -- exec
    // needs a caller that runs from a sealed copy of its binary; this test binary does not.
    c.destroy();
    Container& ptrace = start(ptrace_spec(rootfs_->path()));
    try {
        run_exec(ptrace, sh("true"));
        ADD_FAILURE() << "exec into a CAP_SYS_PTRACE container from the host's binary";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported) << e.what();
    }
}

// CAP_SYS_PTRACE without a user namespace, from a caller that runs from a sealed memfd copy
// of its binary (as truman-monitor --sealed-copy does): this test runs itself again from
// such a copy (TRUMAN_TEST_SEALED_COPY), and that run does the checks.
TEST_F(Exec, FromASealedCopyWorksWhereTheContainerCanPtrace) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread
    if (!::getenv("TRUMAN_TEST_SEALED_COPY")) {
        int out[2];
        ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
        std::string filter = "--gtest_filter=Exec.FromASealedCopyWorksWhereTheContainerCanPtrace";
        pid_t pid = fork();
        if (pid == 0) {
            ::dup2(out[1], 1);
            ::dup2(out[1], 2);
            ::setenv("TRUMAN_TEST_SEALED_COPY", "1", 1);  // NOLINT(concurrency-mt-unsafe): a fork
            char self[] = "truman_integration_tests";
            char* argv[] = {self, filter.data(), nullptr};
            try {
                reexec_from_sealed_copy(argv, environ);
            } catch (...) {
            }
            _exit(99);
        }
        ::close(out[1]);
        std::string log;
        char buf[4096];
        for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;)
            log.append(buf, static_cast<size_t>(n));
        ::close(out[0]);
        int st = 0;
        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << log;
        EXPECT_NE(log.find("[  PASSED  ] 1 test"), std::string::npos) << log;
        return;
    }
    ASSERT_TRUE(running_from_sealed_copy());
    std::string host_binary = std::string(TRUMAN_BINARY_DIR) + "/bin/truman_integration_tests";
    std::string digest = sha256_of(host_binary);
    Container& c = start(ptrace_spec(rootfs_->path()));

    // It works: output, exit code, every namespace, a terminal.
    ExecResult r = run_exec(c, sh("echo hi from $$; exit 3"));
    EXPECT_EQ(r.status.exit_code, 3);
    EXPECT_EQ(r.out.rfind("hi from ", 0), 0u) << r.out;
    for (const char* ns : {"pid", "mnt", "net", "uts", "ipc", "cgroup"}) {
        ExecResult link = run_exec(c, sh(std::string("readlink /proc/self/ns/") + ns));
        EXPECT_EQ(link.out, ns_link(c.pid(), ns) + "\n") << ns;
    }
    // The exec'd process holds the container's capabilities, SYS_PTRACE among them.
    ExecResult caps = run_exec(c, sh("grep CapEff /proc/self/status"));
    EXPECT_NE(caps.out.find(hex_caps(ptrace_spec(rootfs_->path()))), std::string::npos) << caps.out;

    // What the container could reach of the exec'ing process before it execs: a fork of
    // its caller (the forked process is exactly that until execveat). Stand-in: a parked
    // fork of ours in the container's PID namespace, dumpable even, with the container's
    // capabilities. Its /proc/<pid>/exe is the sealed copy, which cannot be written.
    int go[2];
    ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
    pid_t pid = fork_into(c, go[0], go[1]);
    ::close(go[0]);
    ASSERT_GT(pid, 0);
    std::string nspid = ns_pid_of(pid);
    ExecResult probe = run_exec(
        c, sh("readlink /proc/" + nspid + "/exe; echo x > /proc/" + nspid +
              "/exe && echo WROTE; (exec 3>>/proc/" + nspid + "/exe) && echo OPENED; echo done"));
    ::close(go[1]);
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT_NE(probe.out.find("/memfd:truman-monitor"), std::string::npos) << probe.out;
    EXPECT_EQ(probe.out.find("truman_integration_tests"), std::string::npos) << probe.out;
    EXPECT_EQ(probe.out.find("WROTE"), std::string::npos) << probe.out;
    EXPECT_EQ(probe.out.find("OPENED"), std::string::npos) << probe.out;
    EXPECT_NE(probe.out.find("done"), std::string::npos) << probe.out;
    EXPECT_EQ(sha256_of(host_binary), digest);

    // Failures still come back with their step and field.
    ExecSpec missing;
    missing.args = {"/no/such/program"};
    try {
        run_exec(c, missing);
        ADD_FAILURE() << "a missing program ran";
    } catch (const Error& e) {
        EXPECT_EQ(e.err(), ENOENT) << e.what();
        EXPECT_EQ(e.field(), "cmd") << e.what();
    }
}

TEST_F(Exec, BadInputIsRefusedWithTheField) {
    Container& c = start();
    auto field_of = [&](ExecSpec s) -> std::string {
        try {
            run_exec(c, s);
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
            return e.field();
        }
        return "accepted";
    };
    EXPECT_EQ(field_of(ExecSpec{}), "cmd");
    ExecSpec missing;
    missing.args = {"/bin/nope"};
    EXPECT_EQ(field_of(missing), "cmd");
    ExecSpec env = sh("true");
    env.env = {"NOEQUALS"};
    EXPECT_EQ(field_of(env), "env[0]");
    ExecSpec relative = sh("true");
    relative.cwd = "tmp";
    EXPECT_EQ(field_of(relative), "cwd");
    ExecSpec gone = sh("true");
    gone.cwd = "/nonexistent";
    EXPECT_EQ(field_of(gone), "cwd");
}

TEST_F(Exec, IntoAContainerThatIsNotRunningIsAConflict) {
    container_ = Container::create(default_spec(rootfs_->path(), {"/bin/true"}),
                                   make_options(unique_name("exec"), cgroups_));
    try {
        container_->exec(sh("true"));
        ADD_FAILURE() << "exec into a created container";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::conflict) << e.what();
    }
    container_->start();
    container_->wait();
    EXPECT_THROW(container_->exec(sh("true")), Error);
}

TEST_F(Exec, EndsWithTheContainersInit) {
    Container& c = start();
    ExecSpec s;
    s.args = {"/bin/sleep", "1000"};
    auto p = c.exec(s);
    c.kill(SIGKILL);  // the PID namespace dies with its init, and the exec with it
    ExitStatus st = p->wait();
    EXPECT_EQ(st.signal, SIGKILL);
    EXPECT_EQ(c.wait().signal, SIGKILL);
}
