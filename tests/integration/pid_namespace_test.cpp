// PID namespaces through run_in_new_pid_namespace and through real containers.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cctype>
#include <fstream>

#include "container_helpers.hpp"
#include "test_support.hpp"
#include "truman/container.hpp"
#include "truman/error.hpp"

using namespace truman;
using namespace truman::test;

namespace {
int count_pids_in_proc() {
    int n = 0;
    DIR* d = opendir("/proc");
    while (dirent* e = readdir(d))
        if (isdigit(static_cast<unsigned char>(e->d_name[0]))) ++n;
    closedir(d);
    return n;
}

// Uses about 512 KiB of stack: a child started on the wrong end of its stack faults at once.
int deep(int n) {
    volatile char pad[4096];
    pad[0] = static_cast<char>(n);
    return n == 0 ? pad[0] : deep(n - 1) + (pad[0] != 0 ? 0 : 0);
}
}  // namespace

TEST(PidNamespace, ChildSeesItselfAsPid1AndItsParentAs0) {
    int status = run_in_new_pid_namespace([] { return getpid() == 1 && getppid() == 0 ? 0 : 1; });
    EXPECT_EQ(status, 0);
}

TEST(PidNamespace, HelperReturnsTheExitStatusNotThePid) {
    EXPECT_EQ(run_in_new_pid_namespace([] { return 42; }), 42);
    EXPECT_EQ(run_in_new_pid_namespace([] { return 0; }), 0);
}

TEST(PidNamespace, ChildRunsOnTheTopOfItsOwnStack) {
    EXPECT_EQ(run_in_new_pid_namespace([] { return deep(128) == 0 ? 7 : 8; }), 7);
}

TEST(PidNamespace, ChildSeesNoHostProcessInItsProc) {
    ASSERT_GT(count_pids_in_proc(), 1);
    EXPECT_EQ(run_in_new_pid_namespace([] { return count_pids_in_proc(); }), 1);
}

TEST(PidNamespace, FailedCloneThrowsInsteadOfWaitingOnMinusOne) {
    // clone(2): CLONE_NEWUSER together with CLONE_FS is EINVAL.
    try {
        run_in_new_pid_namespace([] { return 0; }, CLONE_NEWUSER | CLONE_FS);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("clone"), std::string::npos) << e.what();
    }
}

TEST(PidNamespace, ParentSeesTheContainersRealPid) {
    auto before = snapshot_host();
    {
        ContainerSpec spec = busybox_spec("exit 0");
        auto c = Container::create(spec, make_options(unique_name("pid"), nullptr));
        pid_t pid = c->pid();
        ASSERT_GT(pid, 1);
        ASSERT_NE(pid, getpid());
        // NSpid lists the PID in every namespace from the host's down: "<host pid>\t1".
        std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
        auto pos = status.find("NSpid:");
        ASSERT_NE(pos, std::string::npos);
        std::string line = status.substr(pos, status.find('\n', pos) - pos);
        EXPECT_EQ(line, "NSpid:\t" + std::to_string(pid) + "\t1");
        c->start();
        EXPECT_EQ(c->wait().exit_code, 0);
    }
    EXPECT_EQ(leaks_since(before), "");
}

TEST(PidNamespace, ContainerInitSeesPid1AndNoHostProcess) {
    auto r = run_container(busybox_spec("echo pid=$$ ppid=$PPID; ls /proc | grep -c '^[0-9]'"));
    EXPECT_EQ(r.status.exit_code, 0) << r.out;
    // sh is PID 1, and only sh and the grep pipeline's processes exist.
    EXPECT_NE(r.out.find("pid=1 ppid=0"), std::string::npos) << r.out;
    int count = std::stoi(r.out.substr(r.out.find('\n') + 1));
    EXPECT_LE(count, 4) << r.out;
}
