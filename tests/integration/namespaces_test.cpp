// Every namespace type: new when requested, shared with the host when not; UTS, IPC, user
// and cgroup namespaces seen from inside.
#include <gtest/gtest.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "container_helpers.hpp"
#include "test_support.hpp"
#include "truman/container.hpp"
#include "truman/error.hpp"

using namespace truman;
using namespace truman::test;

namespace {
ino_t ns_inode(const std::string& pid, const char* name) {
    struct stat st;
    std::string path = "/proc/" + pid + "/ns/" + name;
    if (stat(path.c_str(), &st) != 0) throw std::runtime_error("stat " + path);
    return st.st_ino;
}

const NamespaceType kAll[] = {NamespaceType::pid,   NamespaceType::network, NamespaceType::mount,
                              NamespaceType::ipc,   NamespaceType::uts,     NamespaceType::user,
                              NamespaceType::cgroup};

// Create a parked container with exactly `types`, compare its /proc/PID/ns/* with ours.
void expect_namespaces(const std::vector<NamespaceType>& types) {
    ContainerSpec spec = busybox_spec("exit 0");
    spec.linux.namespaces.clear();
    spec.hostname.clear();
    for (auto t : types) spec.linux.namespaces.push_back({t, ""});
    bool user = std::find(types.begin(), types.end(), NamespaceType::user) != types.end();
    if (user) {
        spec.linux.uid_mappings = {{0, 200000, 65536}};
        spec.linux.gid_mappings = {{0, 200000, 65536}};
    }
    auto c = Container::create(spec, make_options(unique_name("ns"), nullptr));
    std::string pid = std::to_string(c->pid());
    for (auto t : kAll) {
        bool requested = std::find(types.begin(), types.end(), t) != types.end();
        // A new PID namespace shows in pid_for_children of the parent and in "pid" of the
        // child (the child's own "pid" entry is the namespace it is PID 1 of).
        ino_t mine = ns_inode("self", proc_ns_name(t));
        ino_t theirs = ns_inode(pid, proc_ns_name(t));
        if (requested)
            EXPECT_NE(mine, theirs) << "namespace " << to_string(t) << " should be new";
        else
            EXPECT_EQ(mine, theirs) << "namespace " << to_string(t) << " should be the host's";
    }
    c->destroy();
}
}  // namespace

TEST(Namespaces, AllSevenRequestedAreAllNew) {
    auto before = snapshot_host();
    expect_namespaces({kAll, kAll + 7});
    EXPECT_EQ(leaks_since(before), "");
}

TEST(Namespaces, OnlyRequestedOnesAreNew) {
    expect_namespaces({NamespaceType::mount});
    expect_namespaces({NamespaceType::mount, NamespaceType::pid});
    expect_namespaces({NamespaceType::mount, NamespaceType::uts, NamespaceType::ipc});
    expect_namespaces({NamespaceType::mount, NamespaceType::network});
    expect_namespaces({NamespaceType::mount, NamespaceType::cgroup});
    expect_namespaces({NamespaceType::mount, NamespaceType::user});
    expect_namespaces({NamespaceType::mount, NamespaceType::user, NamespaceType::pid});
}

TEST(Namespaces, MountNamespaceIsRequired) {
    ContainerSpec spec = busybox_spec("exit 0");
    spec.linux.namespaces = {{NamespaceType::pid, ""}};
    spec.hostname.clear();
    try {
        Container::create(spec, make_options(unique_name("nomnt"), nullptr));
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    }
}

TEST(Namespaces, HostnameAndDomainnameSetInsideHostUnchanged) {
    char host_before[256] = {};
    gethostname(host_before, sizeof host_before);
    ContainerSpec spec = busybox_spec("hostname; cat /proc/sys/kernel/domainname");
    spec.hostname = "box-one";
    spec.domainname = "example.test";
    auto r = run_container(spec);
    EXPECT_EQ(r.out, "box-one\nexample.test\n");
    char host_after[256] = {};
    gethostname(host_after, sizeof host_after);
    EXPECT_STREQ(host_before, host_after);
}

TEST(Namespaces, SystemVIpcIsIsolated) {
    int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    ASSERT_GE(id, 0);
    auto r = run_container(busybox_spec("grep -c . /proc/sysvipc/shm"));
    shmctl(id, IPC_RMID, nullptr);
    // Only the header line: the host's segment is not visible.
    EXPECT_EQ(r.out, "1\n");
}

TEST(Namespaces, UidMapWrittenAndSeenFromInside) {
    ContainerSpec spec = busybox_spec("cat /proc/self/uid_map /proc/self/gid_map; id -u");
    add_user_namespace(spec, 1000, 1);
    auto r = run_container(spec);
    EXPECT_EQ(r.status.exit_code, 0) << r.out;
    // /proc/self/uid_map prints each field right-aligned in 10 columns.
    EXPECT_EQ(r.out, "         0       1000          1\n         0       1000          1\n0\n");
}

TEST(Namespaces, RootInUserNamespaceIsNotRootOnTheHost) {
    TempDir dir;
    std::string host_file = dir.path() + "/owned-by-host-root";
    { std::ofstream(host_file) << "secret"; }
    chmod(host_file.c_str(), 0600);
    ContainerSpec spec = busybox_spec("id -u; cat /mnt/owned-by-host-root && echo READ");
    spec.mounts.push_back({"/mnt", "bind", dir.path(), {"bind"}});
    add_user_namespace(spec, 100000, 65536);
    auto r = run_container(spec);
    EXPECT_NE(r.out.find("0\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("READ"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Permission denied"), std::string::npos) << r.out;
}

TEST(Namespaces, RootlessCallerMapsItsOwnUidToRoot) {
    busybox_rootfs();  // made by root, before the fork, so the child does not own it
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (setgid(1000) != 0 || setuid(1000) != 0) _exit(2);
        // setuid() made this process non-dumpable, which puts its children's /proc files out
        // of its own reach; a user's ordinary login shell is dumpable, so be one.
        prctl(PR_SET_DUMPABLE, 1);
        try {
            ContainerSpec spec = busybox_spec("test \"$(id -u)\" = 0");
            add_user_namespace(spec, 1000, 1);
            auto r = run_container(spec);
            _exit(r.status.exit_code == 0 ? 0 : 10 + r.status.exit_code % 100);
        } catch (const std::exception& e) {
            fprintf(stderr, "rootless: %s\n", e.what());
            _exit(3);
        }
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Namespaces, CgroupNamespaceShowsItsOwnCgroupAsRoot) {
    auto r = run_container(busybox_spec("cat /proc/self/cgroup"));
    EXPECT_EQ(r.status.exit_code, 0);
    // Every line ends in ":/": the container's cgroup is the root of its view.
    std::istringstream lines(r.out);
    int n = 0;
    for (std::string line; std::getline(lines, line); ++n)
        EXPECT_EQ(line.substr(line.size() - 2), ":/") << line;
    EXPECT_GT(n, 0);
}

TEST(Namespaces, FullIsolationBusyboxContainer) {
    auto before = snapshot_host();
    ContainerSpec spec = busybox_spec(
        "echo pid=$$; hostname; cat /proc/self/uid_map; ls /sys/class/net; "
        "grep -c . /proc/self/mounts >/dev/null && echo mounts-ok");
    spec.hostname = "full";
    add_user_namespace(spec, 100000, 65536);
    auto r = run_container(spec);
    EXPECT_EQ(r.status.exit_code, 0) << r.out;
    EXPECT_EQ(r.out, "pid=1\nfull\n         0     100000      65536\nlo\nmounts-ok\n");
    EXPECT_EQ(leaks_since(before), "");
}
