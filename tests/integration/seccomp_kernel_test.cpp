// Seccomp on the real kernel: a forked child loads the exported program exactly as the
// container's first process does (no_new_privs, then raw seccomp(SECCOMP_SET_MODE_FILTER) with
// SECCOMP_FILTER_FLAG_NEW_LISTENER when needed), the parent takes the listener with
// pidfd_getfd and answers every notification through SeccompNotifier.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "truman/seccomp.hpp"

namespace truman {
namespace {

using namespace std::chrono_literals;

struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    int release() {
        int f = fd;
        fd = -1;
        return f;
    }
};

struct Pipe {
    Fd read, write;
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) < 0) throw std::runtime_error("pipe2");
        read.fd = fds[0];
        write.fd = fds[1];
    }
};

// In the confined child: report one call's result as "name ret errno\n" on stdout. Only
// write(2), which every profile in this file allows.
long probe(const char* name, long ret) {
    int err = ret < 0 ? errno : 0;
    char line[128];
    int n = std::snprintf(line, sizeof line, "%s %ld %d\n", name, ret, err);
    if (::write(1, line, static_cast<size_t>(n)) < 0) ::_exit(120);
    return ret;
}

struct Outcome {
    int status = -1;  // from waitpid
    std::string output;
    std::vector<BlockedSyscall> blocked;
    // name -> {ret, errno} from probe() lines
    std::map<std::string, std::pair<long, int>> probes() const {
        std::map<std::string, std::pair<long, int>> out;
        std::istringstream in(output);
        std::string name;
        long ret;
        int err;
        while (in >> name >> ret >> err) out[name] = {ret, err};
        return out;
    }
    std::vector<std::string> blocked_names() const {
        std::vector<std::string> names;
        for (const auto& b : blocked) names.push_back(b.name);
        return names;
    }
};

// A child confined by `program` that runs `body` (its return value is the exit code). Its
// stdout and stderr go to a pipe the parent reads. Killed and reaped by the destructor if a
// test fails midway, so no test can leave a process (or a notification waiting) behind.
class ConfinedChild {
  public:
    ConfinedChild(const SeccompProgram& program, const std::function<int()>& body) {
        Pipe out, loaded, ack;
        sock_fprog prog{static_cast<unsigned short>(program.filter.size()),
                        const_cast<sock_filter*>(program.filter.data())};
        unsigned flags = program.needs_listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork");
        if (pid_ == 0) {
            ::dup2(out.write.fd, 1);
            ::dup2(out.write.fd, 2);
            if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) ::_exit(101);
            long listener = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
            if (listener < 0) ::_exit(102);
            // Tell the parent which fd is the listener (0: none) and wait until it has taken
            // it: the listener is close-on-exec, and nobody could answer us without it.
            int number = static_cast<int>(listener);
            if (::write(loaded.write.fd, &number, sizeof number) != sizeof number) ::_exit(103);
            char c;
            if (::read(ack.read.fd, &c, 1) != 1) ::_exit(104);
            if (listener > 0) ::close(static_cast<int>(listener));
            ::_exit(body());
        }
        try {
            take_listener(program, out, loaded, ack);
        } catch (...) {
            if (pid_ > 0) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, nullptr, 0);
            }
            throw;
        }
    }

    ~ConfinedChild() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    pid_t pid() const { return pid_; }
    SeccompNotifier* notifier() { return notifier_.get(); }

    void kill_and_reap() {
        if (pid_ <= 0) return;  // never kill(-1, ...)
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &outcome_.status, 0);
        pid_ = -1;
    }

    // Answer notifications and collect output until the child has exited and its output is
    // drained. A child still running after a generous deadline is a failure (and killed),
    // never a hang.
    Outcome finish() {
        auto deadline = std::chrono::steady_clock::now() + 30s;
        bool exited = pid_ <= 0, eof = out_.fd < 0;
        while (!(exited && eof)) {
            if (std::chrono::steady_clock::now() > deadline) {
                ADD_FAILURE() << "confined child did not finish; output so far:\n"
                              << outcome_.output;
                kill_and_reap();
                return outcome_;
            }
            pollfd fds[3] = {{eof ? -1 : out_.fd, POLLIN, 0},
                             {exited ? -1 : pidfd_.fd, POLLIN, 0},
                             {notifier_ ? notifier_->fd() : -1, POLLIN, 0}};
            if (::poll(fds, 3, 500) < 0 && errno != EINTR) throw std::runtime_error("poll");
            if (fds[2].revents & POLLIN)
                if (auto blocked = notifier_->handle_one()) outcome_.blocked.push_back(*blocked);
            if (fds[0].revents & (POLLIN | POLLHUP)) {
                char buf[4096];
                ssize_t n = ::read(out_.fd, buf, sizeof buf);
                if (n > 0) outcome_.output.append(buf, static_cast<size_t>(n));
                if (n == 0) eof = true;
            }
            if (fds[1].revents & POLLIN) {
                ::waitpid(pid_, &outcome_.status, 0);
                pid_ = -1;
                exited = true;
            }
        }
        return outcome_;
    }

  private:
    // Parent side of start-up: take the listener (if any) from the child, then let it go on.
    void take_listener(const SeccompProgram& program, Pipe& out, Pipe& loaded, Pipe& ack) {
        loaded.write.reset();
        ack.read.reset();
        out.write.reset();
        out_.fd = out.read.release();
        pidfd_.fd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
        if (pidfd_.fd < 0) throw std::runtime_error("pidfd_open");
        int number = -1;
        if (::read(loaded.read.fd, &number, sizeof number) != sizeof number)
            throw std::runtime_error("child did not load its seccomp filter: " + finish().output);
        if (number > 0) {
            // pidfd_getfd returns the descriptor close-on-exec.
            int listener = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd_.fd, number, 0));
            if (listener < 0) throw std::runtime_error("pidfd_getfd of the seccomp listener");
            notifier_ = std::make_unique<SeccompNotifier>(listener, program);
        }
        if (::write(ack.write.fd, "k", 1) != 1) throw std::runtime_error("ack child");
    }

    pid_t pid_ = -1;
    Fd out_, pidfd_;
    std::unique_ptr<SeccompNotifier> notifier_;
    Outcome outcome_;
};

std::string describe(const Outcome& o) {
    std::string text = "status " + std::to_string(o.status) + ", output:\n" + o.output + "blocked:";
    for (const auto& b : o.blocked) text += " " + b.name + "(" + std::to_string(b.pid) + ")";
    return text;
}

bool exited_with(const Outcome& o, int code) {
    return WIFEXITED(o.status) && WEXITSTATUS(o.status) == code;
}

class SeccompKernel : public ::testing::Test {
  protected:
    void SetUp() override { before_ = test::snapshot_host(); }
    void TearDown() override { EXPECT_EQ(test::leaks_since(before_), ""); }
    test::HostSnapshot before_;
};

TEST_F(SeccompKernel, DefaultProfileDeniesPrivilegedCallsAndRecordsThem) {
    SeccompProgram program = compile_seccomp(default_seccomp_profile());
    ConfinedChild child(program, [] {
        probe("getpid", ::syscall(SYS_getpid));
        // Each call fails differently when not filtered (ENOENT, EINVAL, ESRCH, ...), so an
        // EPERM can only come from the filter; none of them can harm the host if it is broken.
        probe("mount",
              ::syscall(SYS_mount, "none", "/nonexistent-truman-seccomp", "tmpfs", 0, nullptr));
        probe("reboot", ::syscall(SYS_reboot, 0, 0, 0, nullptr));  // bad magic: EINVAL
        probe("unshare", ::syscall(SYS_unshare, CLONE_NEWNS));
        long r = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) ::_exit(0);
        probe("clone_newuser", r);
        probe("clone3", ::syscall(SYS_clone3, nullptr, 0));  // EINVAL when not filtered
        probe("ptrace", ::syscall(SYS_ptrace, PTRACE_PEEKUSER, 0, 0, 0));  // ESRCH
        probe("keyctl", ::syscall(SYS_keyctl, 0x7fff, 0, 0, 0, 0));        // EOPNOTSUPP
        probe("bpf", ::syscall(SYS_bpf, -1, nullptr, 0));                  // EINVAL
        // Plain clone (what fork does) is allowed: its flags carry no CLONE_NEW*.
        long pid = ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) ::_exit(7);
        int status = 0;
        ::waitpid(static_cast<pid_t>(pid), &status, 0);
        probe("clone_plain_exit", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    });
    pid_t pid = child.pid();
    Outcome o = child.finish();
    ASSERT_TRUE(exited_with(o, 0)) << describe(o);

    auto probes = o.probes();
    EXPECT_EQ(probes["getpid"].first, pid) << describe(o);
    for (const char* name :
         {"mount", "reboot", "unshare", "clone_newuser", "ptrace", "keyctl", "bpf"}) {
        EXPECT_EQ(probes[name].first, -1) << name << "\n" << describe(o);
        EXPECT_EQ(probes[name].second, EPERM) << name << "\n" << describe(o);
    }
    EXPECT_EQ(probes["clone3"], (std::pair<long, int>{-1, ENOSYS})) << describe(o);
    EXPECT_EQ(probes["clone_plain_exit"].first, 7) << describe(o);

    // Every EPERM above went through the listener, in order, with the caller's pid; clone3
    // (answered by the kernel) did not.
    EXPECT_EQ(o.blocked_names(), (std::vector<std::string>{"mount", "reboot", "unshare", "clone",
                                                           "ptrace", "keyctl", "bpf"}))
        << describe(o);
    for (const auto& b : o.blocked) {
        EXPECT_EQ(b.pid, pid) << b.name;
        EXPECT_GT(b.when.time_since_epoch().count(), 0);
    }
}

TEST_F(SeccompKernel, BusyboxShellRunsUnderDefaultProfile) {
    SeccompProgram program = compile_seccomp(default_seccomp_profile());
    ConfinedChild child(program, [] {
        const char* argv[] = {
            "sh", "-c", "echo ok; ls / >/dev/null; cat /proc/self/status | grep Seccomp", nullptr};
        ::execv(TRUMAN_BUSYBOX, const_cast<char**>(argv));
        return 127;
    });
    Outcome o = child.finish();
    ASSERT_TRUE(exited_with(o, 0)) << describe(o);
    EXPECT_NE(o.output.find("ok\n"), std::string::npos) << describe(o);
    EXPECT_NE(o.output.find("Seccomp:\t2"), std::string::npos) << describe(o);
    EXPECT_TRUE(o.blocked.empty()) << describe(o);
}

TEST_F(SeccompKernel, ThreadsWorkThroughTheClone3Fallback) {
    // glibc's pthread_create tries clone3 first and falls back to clone only on ENOSYS.
    SeccompProgram program = compile_seccomp(default_seccomp_profile());
    ConfinedChild child(program, [] {
        int value = 0;
        std::thread([&] { value = 42; }).join();
        return value == 42 ? 0 : 1;
    });
    Outcome o = child.finish();
    EXPECT_TRUE(exited_with(o, 0)) << describe(o);
    EXPECT_TRUE(o.blocked.empty()) << describe(o);
}

TEST_F(SeccompKernel, CustomAllowListAnswersTheDefaultErrno) {
    Seccomp profile;
    profile.default_action = "SCMP_ACT_ERRNO";
    profile.default_errno_ret = EACCES;
    profile.syscalls.push_back(
        SeccompRule{{"read", "write", "close", "exit_group", "getpid"}, "SCMP_ACT_ALLOW", {}, {}});
    SeccompProgram program = compile_seccomp(profile);
    ASSERT_TRUE(program.needs_listener);
    ConfinedChild child(program, [] {
        probe("getpid", ::syscall(SYS_getpid));
        probe("getppid", ::syscall(SYS_getppid));
        probe("getuid", ::syscall(SYS_getuid));
        return 0;
    });
    pid_t pid = child.pid();
    Outcome o = child.finish();
    ASSERT_TRUE(exited_with(o, 0)) << describe(o);
    auto probes = o.probes();
    EXPECT_EQ(probes["getpid"].first, pid);
    EXPECT_EQ(probes["getppid"], (std::pair<long, int>{-1, EACCES})) << describe(o);
    EXPECT_EQ(probes["getuid"], (std::pair<long, int>{-1, EACCES})) << describe(o);
    EXPECT_EQ(o.blocked_names(), (std::vector<std::string>{"getppid", "getuid"})) << describe(o);
}

TEST_F(SeccompKernel, CustomAllowListWithKillProcessKillsOnOtherCalls) {
    Seccomp profile;
    profile.default_action = "SCMP_ACT_KILL_PROCESS";
    profile.syscalls.push_back(
        SeccompRule{{"read", "write", "close", "exit_group"}, "SCMP_ACT_ALLOW", {}, {}});
    SeccompProgram program = compile_seccomp(profile);
    ASSERT_FALSE(program.needs_listener);
    ConfinedChild child(program, [] {
        probe("before", 0);
        ::syscall(SYS_getppid);
        probe("after", 0);
        return 0;
    });
    EXPECT_EQ(child.notifier(), nullptr);
    Outcome o = child.finish();
    ASSERT_TRUE(WIFSIGNALED(o.status)) << describe(o);
    EXPECT_EQ(WTERMSIG(o.status), SIGSYS);
    EXPECT_EQ(o.output, "before 0 0\n");
}

TEST_F(SeccompKernel, DenyListGivesTheRuleErrno) {
    for (int err : {ENOSYS, EPERM}) {
        Seccomp profile;
        profile.default_action = "SCMP_ACT_ALLOW";
        profile.syscalls.push_back(
            SeccompRule{{"uname"}, "SCMP_ACT_ERRNO", static_cast<uint32_t>(err), {}});
        SeccompProgram program = compile_seccomp(profile);
        ConfinedChild child(program, [] {
            char buf[1024];  // struct utsname
            probe("uname", ::syscall(SYS_uname, buf));
            probe("getppid", ::syscall(SYS_getppid));
            return 0;
        });
        pid_t pid = child.pid();
        Outcome o = child.finish();
        ASSERT_TRUE(exited_with(o, 0)) << describe(o);
        auto probes = o.probes();
        EXPECT_EQ(probes["uname"], (std::pair<long, int>{-1, err})) << describe(o);
        EXPECT_EQ(probes["getppid"].first, ::getpid()) << describe(o);
        ASSERT_EQ(o.blocked_names(), std::vector<std::string>{"uname"}) << describe(o);
        EXPECT_EQ(o.blocked[0].pid, pid);
    }
}

TEST_F(SeccompKernel, ArgumentConditionsSelectTheAction) {
    // Deny personality only for one persona: other values go through.
    Seccomp profile;
    profile.default_action = "SCMP_ACT_ALLOW";
    profile.syscalls.push_back(
        SeccompRule{{"personality"}, "SCMP_ACT_ERRNO", 22u, {{0, 0x20000, 0, "SCMP_CMP_EQ"}}});
    SeccompProgram program = compile_seccomp(profile);
    ConfinedChild child(program, [] {
        probe("query", ::syscall(SYS_personality, 0xffffffffUL));
        probe("denied", ::syscall(SYS_personality, 0x20000UL));
        return 0;
    });
    Outcome o = child.finish();
    ASSERT_TRUE(exited_with(o, 0)) << describe(o);
    auto probes = o.probes();
    EXPECT_GE(probes["query"].first, 0) << describe(o);
    EXPECT_EQ(probes["denied"], (std::pair<long, int>{-1, 22})) << describe(o);
    EXPECT_EQ(o.blocked_names(), std::vector<std::string>{"personality"}) << describe(o);
}

TEST_F(SeccompKernel, CallsBeforeExecAreAnsweredByTheKernelNotTheListener) {
    // Until the monitor holds the listener, a notified call would wait forever: the calls the
    // child makes before execve get their errno straight from the filter.
    Seccomp profile;
    profile.default_action = "SCMP_ACT_ERRNO";
    profile.syscalls.push_back(
        SeccompRule{{"read", "write", "close", "exit_group"}, "SCMP_ACT_ALLOW", {}, {}});
    profile.syscalls.push_back(SeccompRule{{"fchdir"}, "SCMP_ACT_ERRNO", 13u, {}});
    SeccompProgram program = compile_seccomp(profile);
    ConfinedChild child(program, [] {
        probe("fcntl", ::syscall(SYS_fcntl, 1, F_GETFD));  // default errno, not notified
        probe("fchdir", ::syscall(SYS_fchdir, 0));         // rule errno, not notified
        probe("getppid", ::syscall(SYS_getppid));          // notified
        return 0;
    });
    Outcome o = child.finish();
    ASSERT_TRUE(exited_with(o, 0)) << describe(o);
    auto probes = o.probes();
    EXPECT_EQ(probes["fcntl"], (std::pair<long, int>{-1, EPERM})) << describe(o);
    EXPECT_EQ(probes["fchdir"], (std::pair<long, int>{-1, EACCES})) << describe(o);
    EXPECT_EQ(probes["getppid"], (std::pair<long, int>{-1, EPERM})) << describe(o);
    EXPECT_EQ(o.blocked_names(), std::vector<std::string>{"getppid"}) << describe(o);
}

void on_alarm(int) {}

TEST_F(SeccompKernel, NotifierReturnsNothingWhenTheCallerDied) {
    Seccomp profile;
    profile.default_action = "SCMP_ACT_ALLOW";
    profile.syscalls.push_back(SeccompRule{{"getppid"}, "SCMP_ACT_ERRNO", {}, {}});
    SeccompProgram program = compile_seccomp(profile);
    ConfinedChild child(program, [] {
        ::syscall(SYS_getppid);  // waits for an answer that never comes
        return 0;
    });
    ASSERT_NE(child.notifier(), nullptr);
    pollfd pfd{child.notifier()->fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&pfd, 1, 10000), 1) << "no notification arrived";
    child.kill_and_reap();

    // Should the kernel ever block here instead of failing, the alarm turns the hang into
    // EINTR (an exception, so a failure) instead of a stuck test.
    struct sigaction sa {
    }, old{};
    sa.sa_handler = on_alarm;
    ::sigaction(SIGALRM, &sa, &old);
    ::alarm(10);
    std::optional<BlockedSyscall> blocked;
    EXPECT_NO_THROW(blocked = child.notifier()->handle_one());
    ::alarm(0);
    ::sigaction(SIGALRM, &old, nullptr);
    EXPECT_FALSE(blocked.has_value());
}

}  // namespace
}  // namespace truman
