// Cgroups on the real kernel, in the mode the host has (read from /proc/self/mountinfo, not
// from truman): limits, OOM, pids, CPU, kill and the device allow-list run on whatever
// detect_cgroups() picks, and the v2 backend also runs for real on the host's cgroup2 mount
// (on a hybrid host /sys/fs/cgroup/unified: no controllers there, but cgroup.procs,
// cgroup.kill, CLONE_INTO_CGROUP and BPF device programs all work). The other mode's file
// logic is tested against fixture trees in tests/unit. Every test uses its own parent
// cgroup, removes it in TearDown even on failure, and fails on any cgroup left in it.
#include "truman/cgroups.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <sstream>

#include "container_helpers.hpp"
#include "host_cgroups.hpp"
#include "test_support.hpp"
#include "truman/container.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;
using truman::Cgroup;
using truman::CgroupManager;
using truman::CgroupMode;
using truman::ContainerSpec;
using truman::Error;
using truman::ErrorKind;
using truman::test::host_cgroup2_mount;
using truman::test::host_cgroup_mode;
using truman::test::host_container_hierarchies;
using truman::test::read_file;
using truman::test::unique_name;

namespace {

const std::string kRoot = "/sys/fs/cgroup";

std::string trimmed(const std::string& path) {
    std::string s = read_file(path);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::vector<pid_t> procs_of(const std::string& dir) {
    std::vector<pid_t> pids;
    std::istringstream in(read_file(dir + "/cgroup.procs"));
    for (pid_t p; in >> p;) pids.push_back(p);
    return pids;
}

bool lists_pid(const std::string& dir, pid_t pid) {
    auto pids = procs_of(dir);
    return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

bool offers(const std::string& cgroup2_dir, const std::string& controller) {
    std::istringstream in(read_file(cgroup2_dir + "/cgroup.controllers"));
    for (std::string c; in >> c;)
        if (c == controller) return true;
    return false;
}

// A forked child that waits until release(), so the test can put it in a cgroup first, then
// runs body. body may report ints through report(); it must stick to raw syscalls.
class Child {
  public:
    explicit Child(std::function<int(int report_fd)> body) {
        if (::pipe2(go_, O_CLOEXEC) != 0 || ::pipe2(out_, O_CLOEXEC) != 0)
            throw std::runtime_error("pipe2");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork");
        if (pid_ == 0) {
            ::close(go_[1]);
            ::close(out_[0]);
            char c;
            if (::read(go_[0], &c, 1) != 1) ::_exit(120);
            ::_exit(body(out_[1]));
        }
        ::close(go_[0]);
        ::close(out_[1]);
        go_[0] = out_[1] = -1;
    }
    ~Child() {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        for (int fd : {go_[1], out_[0]})
            if (fd >= 0) ::close(fd);
    }
    pid_t pid() const { return pid_; }
    void release() {
        ASSERT_EQ(::write(go_[1], "x", 1), 1);
        ::close(go_[1]);
        go_[1] = -1;
    }
    int wait() {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        reaped_ = true;
        return status;
    }
    // Reads the next int the child reported; -1 on EOF.
    int next_report() {
        int value = -1;
        if (::read(out_[0], &value, sizeof value) != sizeof value) return -1;
        return value;
    }
    static void report(int fd, int value) {
        if (::write(fd, &value, sizeof value) != sizeof value) ::_exit(121);
    }

  private:
    int go_[2] = {-1, -1};
    int out_[2] = {-1, -1};
    pid_t pid_ = -1;
    bool reaped_ = false;
};

// Kills and removes a container cgroup even when the test fails half-way; TearDown then
// reports it as left behind unless the test removed it itself.
struct CgroupGuard {
    std::unique_ptr<Cgroup> cgroup;
    ~CgroupGuard() {
        if (!cgroup) return;
        try {
            cgroup->kill_all();
            cgroup->destroy();
        } catch (const Error& e) {
            ADD_FAILURE() << "cleanup of " << cgroup->path() << ": " << e.what();
        }
    }
    Cgroup* operator->() const { return cgroup.get(); }
};

class CgroupsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(::geteuid(), 0u) << "integration tests run as root";
        before_ = truman::test::snapshot_host();
        parent_ = unique_name("trcg");
        mode_ = host_cgroup_mode();
    }

    // Every container cgroup a test made under its parent must be gone by now; then the
    // parent goes too, in every hierarchy (leftovers are killed and removed first).
    void TearDown() override {
        for (const auto& leak : truman::test::remove_cgroup_parent(parent_))
            ADD_FAILURE() << "cgroup left behind: " << leak;
        EXPECT_EQ(truman::test::leaks_since(before_), "");
    }

    // The directory of container name in the hierarchy holding a v1 controller's files; on
    // a v2 host all of them are in the one directory.
    std::string dir(const std::string& v1_hierarchy, const std::string& name) const {
        if (mode_ == CgroupMode::v2) return kRoot + "/" + parent_ + "/" + name;
        return kRoot + "/" + v1_hierarchy + "/" + parent_ + "/" + name;
    }
    // Its directories in every hierarchy a container uses on this host.
    std::vector<std::string> dirs(const std::string& name) const {
        std::vector<std::string> out;
        for (const auto& h : host_container_hierarchies())
            out.push_back(h + "/" + parent_ + "/" + name);
        return out;
    }
    void expect_gone(const std::string& name) const {
        for (const auto& d : dirs(name)) EXPECT_FALSE(fs::exists(d)) << d;
    }

    std::string parent_;
    CgroupMode mode_ = CgroupMode::v1;
    truman::test::HostSnapshot before_;
};

ContainerSpec spec_with_limits() {
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 64 << 20;
    spec.linux.resources.memory.swap = 64 << 20;
    spec.linux.resources.cpu.shares = 512;
    spec.linux.resources.cpu.quota = 50000;
    spec.linux.resources.cpu.period = 100000;
    spec.linux.resources.pids.limit = 50;
    return spec;
}

void expect_v1_limits(const std::function<std::string(const std::string&)>& in) {
    EXPECT_EQ(trimmed(in("memory") + "/memory.limit_in_bytes"), std::to_string(64 << 20));
    EXPECT_EQ(trimmed(in("memory") + "/memory.memsw.limit_in_bytes"), std::to_string(64 << 20));
    EXPECT_EQ(trimmed(in("cpu") + "/cpu.shares"), "512");
    EXPECT_EQ(trimmed(in("cpu") + "/cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(trimmed(in("cpu") + "/cpu.cfs_period_us"), "100000");
    EXPECT_EQ(trimmed(in("pids") + "/pids.max"), "50");
    // v1 cpuset starts empty; ours inherited the host's cpus and mems.
    EXPECT_EQ(trimmed(in("cpuset") + "/cpuset.cpus"), trimmed(kRoot + "/cpuset/cpuset.cpus"));
    EXPECT_EQ(trimmed(in("cpuset") + "/cpuset.mems"), trimmed(kRoot + "/cpuset/cpuset.mems"));
    std::string devices = read_file(in("devices") + "/devices.list");
    EXPECT_NE(devices.find("c 1:3 rwm"), std::string::npos) << devices;
    EXPECT_NE(devices.find("c 136:* rwm"), std::string::npos) << devices;
    EXPECT_EQ(devices.find("a *:* rwm"), std::string::npos) << devices;
}

void expect_v2_limits(const std::string& dir) {
    EXPECT_EQ(trimmed(dir + "/memory.max"), std::to_string(64 << 20));
    EXPECT_EQ(trimmed(dir + "/memory.swap.max"), "0");  // OCI memory+swap minus memory
    EXPECT_EQ(trimmed(dir + "/cpu.weight"), "20");      // from 512 shares
    EXPECT_EQ(trimmed(dir + "/cpu.max"), "50000 100000");
    EXPECT_EQ(trimmed(dir + "/pids.max"), "50");
}

// Device nodes a container must not reach, made by the test in a temp dir (so /dev's own
// permissions play no part):
// - disk: the block device holding "/". This host's sandbox already denies it to everyone,
//   so it alone proves nothing;
// - loop: /dev/loop0's numbers (b 7:0), which the host lets root open: a denial of it inside
//   the cgroup can only come from our allow-list.
struct ForbiddenNodes {
    truman::test::TempDir tmp;
    std::string disk, loop, mknod_target;
    dev_t disk_dev = 0;

    ForbiddenNodes() {
        struct stat st {};
        if (::stat("/", &st) != 0) throw std::runtime_error("stat /");
        disk_dev = st.st_dev;
        disk = make(tmp.path() + "/disk", disk_dev);
        loop = make(tmp.path() + "/loop", makedev(7, 0));
        mknod_target = tmp.path() + "/disk-again";
    }
    static std::string make(const std::string& node, dev_t dev) {
        if (::mknod(node.c_str(), S_IFBLK | 0600, dev) != 0)
            throw std::runtime_error("mknod " + node + ": " + strerror(errno));
        return node;
    }
};

int open_errno(const char* path) {
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ::close(fd);
    return 0;
}

// In the child: report the errno (0 on success) of opening the disk, the loop device and
// /dev/null, and of mknod'ing the disk again.
int probe_devices(int out, const ForbiddenNodes& nodes) {
    Child::report(out, open_errno(nodes.disk.c_str()));
    Child::report(out, open_errno(nodes.loop.c_str()));
    Child::report(out, open_errno("/dev/null"));
    int rc = ::mknod(nodes.mknod_target.c_str(), S_IFBLK | 0600, nodes.disk_dev);
    Child::report(out, rc < 0 ? errno : 0);
    return 0;
}

void expect_devices_denied(Child& child, const ForbiddenNodes& nodes) {
    EXPECT_EQ(child.next_report(), EPERM)
        << "open of the host disk " << major(nodes.disk_dev) << ":" << minor(nodes.disk_dev);
    EXPECT_EQ(child.next_report(), EPERM) << "open of loop0 (b 7:0)";
    EXPECT_EQ(child.next_report(), 0) << "open of /dev/null";
    EXPECT_EQ(child.next_report(), EPERM) << "mknod of the host disk";
    EXPECT_EQ(child.wait(), 0);
    EXPECT_FALSE(fs::exists(nodes.mknod_target));
}

// Fork n idle children (re-parented to the test, a subreaper), report n, then idle.
int fork_idlers(int out, int n) {
    int made = 0;
    for (; made < n; ++made) {
        pid_t pid = ::fork();
        if (pid < 0) break;
        if (pid == 0) {
            for (;;) ::pause();
        }
    }
    Child::report(out, made);
    for (;;) ::pause();
    return 0;
}

// kill_all on a cgroup of eleven processes leaves it empty in every hierarchy.
void expect_kill_all_empties(Cgroup& cg, const std::vector<std::string>& dirs) {
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    Child child([](int out) { return fork_idlers(out, 10); });
    cg.add_process(child.pid());
    child.release();
    EXPECT_EQ(child.next_report(), 10);
    for (const auto& d : dirs) EXPECT_EQ(procs_of(d).size(), 11u) << d;

    cg.kill_all();
    for (const auto& d : dirs) EXPECT_EQ(procs_of(d), std::vector<pid_t>{}) << d;
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    int reaped = 0;
    while (::waitpid(-1, nullptr, 0) > 0) ++reaped;
    EXPECT_EQ(reaped, 10);
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

}  // namespace

TEST_F(CgroupsTest, HostModeIsDetectedWithLimitsReadBackFromTheKernel) {
    auto manager = truman::detect_cgroups(kRoot, parent_);
    ASSERT_EQ(manager->mode(), mode_) << "mountinfo says " << truman::to_string(mode_);
    std::string name = unique_name("c");
    CgroupGuard cg{manager->create(name, spec_with_limits())};
    for (const auto& d : dirs(name)) EXPECT_TRUE(fs::is_directory(d)) << d;
    EXPECT_EQ(cg->path(), dir("memory", name));
    if (mode_ == CgroupMode::v1) {
        EXPECT_EQ(cg->dir_fd(), -1);
        expect_v1_limits([&](const std::string& h) { return dir(h, name); });
    } else {
        EXPECT_GE(cg->dir_fd(), 0);
        expect_v2_limits(cg->path());
    }

    Child child([](int) {
        for (;;) ::pause();
        return 0;
    });
    cg->add_process(child.pid());
    for (const auto& d : dirs(name)) EXPECT_TRUE(lists_pid(d, child.pid())) << d;
    auto stats = cg->stats();
    EXPECT_EQ(stats.pids_current, 1u);
    EXPECT_FALSE(cg->oom_killed());
    EXPECT_EQ(stats.oom_kills, 0u);

    // A second container of the same name is a conflict, and the first one is untouched.
    try {
        manager->create(name, ContainerSpec{});
        ADD_FAILURE() << "create of an existing name succeeded";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::conflict) << e.what();
    }
    for (const auto& d : dirs(name)) EXPECT_TRUE(fs::is_directory(d)) << d;

    // A restarted daemon finds it again.
    auto reopened = manager->open(name);
    ASSERT_NE(reopened, nullptr);
    EXPECT_EQ(reopened->path(), cg->path());

    cg->kill_all();
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    cg->destroy();
    expect_gone(name);
    EXPECT_EQ(manager->open(name), nullptr);
    cg->destroy();  // idempotent
    reopened->destroy();
}

// A hierarchy is used only where its name and its filesystem agree: a "memory" that is
// really the cgroup2 mount, or a plain directory called "pids", would take limits that
// nothing enforces. With none left the root is refused, and nothing is made anywhere.
TEST_F(CgroupsTest, AHierarchyThatIsNotItsCgroupMountIsNotUsed) {
    truman::test::TempDir root;
    std::string cgroup2 = host_cgroup2_mount();
    fs::create_directory_symlink(cgroup2, root.path() + "/memory");
    fs::create_directory(root.path() + "/pids");
    try {
        truman::detect_cgroups(root.path(), parent_);
        ADD_FAILURE() << "misplaced hierarchies accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported) << e.what();
    }
    EXPECT_FALSE(fs::exists(cgroup2 + "/" + parent_));
    EXPECT_FALSE(fs::exists(root.path() + "/pids/" + parent_));
}

TEST_F(CgroupsTest, ProcessOverTheMemoryLimitIsOomKilled) {
    auto manager = truman::detect_cgroups(kRoot, parent_);
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 32 << 20;
    spec.linux.resources.memory.swap = 32 << 20;  // no swap to escape into
    std::string name = unique_name("oom");
    CgroupGuard cg{manager->create(name, spec)};
    Child child([](int) {
        const size_t size = 128 << 20;
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 2;
        for (size_t off = 0; off < size; off += 4096) static_cast<volatile char*>(p)[off] = 1;
        return 0;  // not reached when the limit holds
    });
    cg->add_process(child.pid());
    child.release();
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    EXPECT_TRUE(cg->oom_killed());
    EXPECT_GE(cg->stats().oom_kills, 1u);
    EXPECT_LE(cg->stats().memory_peak, uint64_t{32 << 20});
    cg->destroy();
    expect_gone(name);
}

TEST_F(CgroupsTest, ForkLoopStopsAtThePidsLimit) {
    auto manager = truman::detect_cgroups(kRoot, parent_);
    ContainerSpec spec;
    spec.linux.resources.pids.limit = 20;
    std::string name = unique_name("pids");
    CgroupGuard cg{manager->create(name, spec)};
    Child child([](int out) {
        pid_t kids[200];
        int n = 0;
        int err = 0;
        while (n < 200) {
            pid_t pid = ::fork();
            if (pid < 0) {
                err = errno;
                break;
            }
            if (pid == 0) {
                for (;;) ::pause();
            }
            kids[n++] = pid;
        }
        Child::report(out, n);
        Child::report(out, err);
        for (int i = 0; i < n; ++i) ::kill(kids[i], SIGKILL);
        for (int i = 0; i < n; ++i) ::waitpid(kids[i], nullptr, 0);
        return 0;
    });
    cg->add_process(child.pid());
    child.release();
    int forks = child.next_report();
    int err = child.next_report();
    EXPECT_EQ(child.wait(), 0);
    EXPECT_EQ(err, EAGAIN);
    EXPECT_GT(forks, 0);
    EXPECT_LE(forks, 19);  // the forking process itself is the 20th
    cg->destroy();
    expect_gone(name);
}

// The allow-list of the mode the host has: devices.allow on v1, the BPF program on v2.
TEST_F(CgroupsTest, HostModeDeviceAllowListDeniesTheHostDisk) {
    ForbiddenNodes nodes;
    // Outside the cgroup the loop node opens: a denial below comes from the cgroup.
    ASSERT_EQ(open_errno(nodes.loop.c_str()), 0);

    auto manager = truman::detect_cgroups(kRoot, parent_);
    std::string name = unique_name("dev");
    CgroupGuard cg{manager->create(name, ContainerSpec{})};
    Child child([&](int out) { return probe_devices(out, nodes); });
    cg->add_process(child.pid());
    child.release();
    expect_devices_denied(child, nodes);
    cg->destroy();
}

// The cgroup2 mount is the default hierarchy (on a hybrid host too: there it is
// /sys/fs/cgroup/unified, without controllers), so the kernel runs BPF device programs
// attached there: this proves the v2 program for real on any host with cgroup2.
TEST_F(CgroupsTest, V2BpfDeviceFilterOnTheCgroup2MountDeniesTheHostDisk) {
    ForbiddenNodes nodes;
    ASSERT_EQ(open_errno(nodes.loop.c_str()), 0);

    std::string cgroup2 = host_cgroup2_mount();
    auto manager = truman::detect_cgroups(cgroup2, parent_);
    ASSERT_EQ(manager->mode(), CgroupMode::v2);
    std::string name = unique_name("bpf");
    std::string path = cgroup2 + "/" + parent_ + "/" + name;
    CgroupGuard cg{manager->create(name, ContainerSpec{})};
    EXPECT_EQ(cg->path(), path);
    EXPECT_GE(cg->dir_fd(), 0);
    EXPECT_NE(::fcntl(cg->dir_fd(), F_GETFD) & FD_CLOEXEC, 0);

    Child child([&](int out) { return probe_devices(out, nodes); });
    cg->add_process(child.pid());
    EXPECT_TRUE(lists_pid(path, child.pid()));
    child.release();
    expect_devices_denied(child, nodes);

    // A spec rule re-allowing loop0 is honoured (the last matching rule wins).
    ContainerSpec allow_loop;
    truman::DeviceRule loop_rule;
    loop_rule.allow = true;
    loop_rule.type = 'b';
    loop_rule.major = 7;
    loop_rule.minor = 0;
    loop_rule.access = "r";
    allow_loop.linux.resources.devices.push_back(loop_rule);
    std::string allowed = unique_name("bpf");
    CgroupGuard cg2{manager->create(allowed, allow_loop)};
    Child reader([&](int out) {
        Child::report(out, open_errno(nodes.loop.c_str()));
        Child::report(out, open_errno(nodes.disk.c_str()));
        return 0;
    });
    cg2->add_process(reader.pid());
    reader.release();
    EXPECT_EQ(reader.next_report(), 0) << "loop0 allowed by linux.resources.devices";
    EXPECT_EQ(reader.next_report(), EPERM) << "the disk stays denied";
    EXPECT_EQ(reader.wait(), 0);
    cg2->destroy();

    // A memory limit needs the memory controller: where this mount does not offer it (a
    // hybrid host's unified hierarchy), it is unsupported, by field, and nothing is left
    // behind; where it does, the kernel holds the limit.
    ContainerSpec limited;
    limited.linux.resources.memory.limit = 1 << 20;
    std::string other = unique_name("bpf");
    if (offers(cgroup2, "memory")) {
        CgroupGuard cg3{manager->create(other, limited)};
        EXPECT_EQ(trimmed(cg3->path() + "/memory.max"), std::to_string(1 << 20));
        cg3->destroy();
    } else {
        try {
            manager->create(other, limited);
            ADD_FAILURE() << "memory limit accepted without a memory controller";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::unsupported);
            EXPECT_STREQ(e.what(),
                         "linux.resources.memory.limit: the memory controller is not available");
        }
    }
    EXPECT_FALSE(fs::exists(cgroup2 + "/" + parent_ + "/" + other));
    cg->destroy();
    EXPECT_FALSE(fs::exists(path));
    EXPECT_FALSE(fs::exists(cgroup2 + "/" + parent_ + "/" + allowed));
}

TEST_F(CgroupsTest, CpuQuotaCapsABusyLoop) {
    auto manager = truman::detect_cgroups(kRoot, parent_);
    ContainerSpec spec;
    spec.linux.resources.cpu.quota = 20000;
    spec.linux.resources.cpu.period = 100000;
    std::string name = unique_name("cpu");
    CgroupGuard cg{manager->create(name, spec)};
    Child child([](int) {
        timespec start{}, now{};
        ::clock_gettime(CLOCK_MONOTONIC, &start);
        do {
            ::clock_gettime(CLOCK_MONOTONIC, &now);
        } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) <
                 1500000000L);
        return 0;
    });
    cg->add_process(child.pid());
    child.release();
    EXPECT_EQ(child.wait(), 0);
    uint64_t used = cg->stats().cpu_usage_usec;
    // 20% of one CPU for 1.5 s is 300 ms; allow twice that.
    EXPECT_GT(used, 0u);
    EXPECT_LE(used, 600000u) << "busy loop used " << used << " usec of CPU in 1.5 s";
    RecordProperty("cpu_usage_usec", std::to_string(used));
    cg->destroy();
}

TEST_F(CgroupsTest, KillAllEmptiesACgroupOfManyProcesses) {
    auto manager = truman::detect_cgroups(kRoot, parent_);
    std::string name = unique_name("kill");
    CgroupGuard cg{manager->create(name, ContainerSpec{})};
    expect_kill_all_empties(*cg.cgroup, dirs(name));
    // v1 freezes the cgroup to kill it, and must thaw it again.
    if (mode_ == CgroupMode::v1) {
        EXPECT_EQ(trimmed(dir("freezer", name) + "/freezer.state"), "THAWED");
    }
    cg->destroy();
    expect_gone(name);
}

// v2's kill (cgroup.kill) on the cgroup2 mount, also where the host's mode is v1.
TEST_F(CgroupsTest, V2KillAllOnTheCgroup2MountEmptiesIt) {
    std::string cgroup2 = host_cgroup2_mount();
    auto manager = truman::detect_cgroups(cgroup2, parent_);
    std::string name = unique_name("kill2");
    std::string path = cgroup2 + "/" + parent_ + "/" + name;
    CgroupGuard cg{manager->create(name, ContainerSpec{})};
    ASSERT_TRUE(fs::exists(path + "/cgroup.kill"));
    expect_kill_all_empties(*cg.cgroup, {path});
    cg->destroy();
    EXPECT_FALSE(fs::exists(path));
}

// A v2 manager clones the container's init straight into its cgroup (CLONE_INTO_CGROUP), so
// no instruction of it runs outside; destroy() removes the cgroup.
TEST_F(CgroupsTest, V2ContainerIsClonedIntoItsCgroupOnTheCgroup2Mount) {
    std::string cgroup2 = host_cgroup2_mount();
    auto manager = truman::detect_cgroups(cgroup2, parent_);
    std::string name = unique_name("into");
    std::string path = cgroup2 + "/" + parent_ + "/" + name;
    {
        auto c = truman::Container::create(truman::test::busybox_spec("exit 0"),
                                           truman::test::make_options(name, manager.get()));
        ASSERT_NE(c->cgroup(), nullptr);
        EXPECT_EQ(c->cgroup()->path(), path);
        EXPECT_EQ(procs_of(path), std::vector<pid_t>{c->pid()});
        std::string self = read_file("/proc/" + std::to_string(c->pid()) + "/cgroup");
        EXPECT_NE(self.find("0::/" + parent_ + "/" + name + "\n"), std::string::npos) << self;
        c->start();
        EXPECT_EQ(c->wait().exit_code, 0);
        c->destroy();
        EXPECT_FALSE(fs::exists(path));
    }
}

TEST_F(CgroupsTest, KernelRejectionHalfWayRemovesEverythingMade) {
    auto manager = truman::detect_cgroups(kRoot, parent_);
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 64 << 20;  // written before the cpuset
    spec.linux.resources.cpu.cpus = "0-4095";      // no such CPUs: the kernel refuses them
    std::string name = unique_name("half");
    try {
        manager->create(name, spec);
        ADD_FAILURE() << "cpuset.cpus 0-4095 accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
        EXPECT_EQ(std::string(e.what()).rfind("linux.resources.cpu.cpus: ", 0), 0u) << e.what();
    }
    expect_gone(name);
}
