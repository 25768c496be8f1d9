// Cgroups on the real kernel, in the mode the host has (read from /proc/self/mountinfo, not
// from truman): limits, OOM, pids, CPU and kill run on whatever detect_cgroups() picks, and
// the v2 backend also runs for real on the host's cgroup2 mount (on a hybrid host
// /sys/fs/cgroup/unified: no controllers there, but cgroup.procs, cgroup.kill and
// CLONE_INTO_CGROUP work). The device allow-list is in cgroup_devices_test.cpp; the other
// mode's file logic is tested against fixture trees in tests/unit. Every test uses its own
// parent cgroup, removes it in TearDown even on failure, and fails on any cgroup left in it.
#include "truman/cgroups.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <sstream>

#include "cgroup_test_fixture.hpp"
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
using namespace truman::test;

namespace {

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
    EXPECT_EQ(trimmed(in("cpuset") + "/cpuset.cpus"),
              trimmed(kHostCgroupRoot + "/cpuset/cpuset.cpus"));
    EXPECT_EQ(trimmed(in("cpuset") + "/cpuset.mems"),
              trimmed(kHostCgroupRoot + "/cpuset/cpuset.mems"));
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

}  // namespace

TEST_F(CgroupsTest, HostModeIsDetectedWithLimitsReadBackFromTheKernel) {
    auto manager = truman::detect_cgroups(kHostCgroupRoot, parent_);
    ASSERT_EQ(manager->mode(), mode_) << "mountinfo says " << truman::to_string(mode_);
    std::string name = unique_name("c");
    CgroupGuard cg{manager->create(name, spec_with_limits())};
    for (const auto& d : dirs(name)) EXPECT_TRUE(fs::is_directory(d)) << d;
    EXPECT_EQ(cg->path(), dir("memory", name));
    if (mode_ == CgroupMode::v1) {
        // The cgroup2 directory of a hybrid host is joined at clone3.
        bool hybrid = false;
        for (const auto& m : host_cgroup_mounts()) hybrid = hybrid || m.v2;
        EXPECT_EQ(cg->dir_fd() >= 0, hybrid);
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

// How the container's init and every exec join: born into the cgroup2 directory (dir_fd), and
// on v1 each process writes "0" to the tasks files open_join_files() gives, moving itself
// without the RCU grace period of a PID written to cgroup.procs (child.cpp, exec_child.cpp).
TEST_F(CgroupsTest, ANewProcessJoinsItsV1DirectoriesByItself) {
    auto manager = truman::detect_cgroups(kHostCgroupRoot, parent_);
    std::string name = unique_name("j");
    CgroupGuard cg{manager->create(name, ContainerSpec{})};
    std::vector<truman::Fd> files = cg->open_join_files();
    if (mode_ == CgroupMode::v2) {
        EXPECT_TRUE(files.empty());
        EXPECT_GE(cg->dir_fd(), 0);
        return;
    }
    std::vector<std::string> v1_dirs;
    for (const auto& d : dirs(name))
        if (d.find("/unified/") == std::string::npos) v1_dirs.push_back(d);
    ASSERT_EQ(files.size(), v1_dirs.size());
    std::vector<int> fds;
    for (const auto& f : files) {
        EXPECT_NE(::fcntl(f.get(), F_GETFD) & FD_CLOEXEC, 0);
        fds.push_back(f.get());
    }
    Child child([&fds](int report) {
        for (int fd : fds)
            if (::write(fd, "0", 1) != 1) return 1;
        Child::report(report, 1);
        for (;;) ::pause();
        return 0;
    });
    child.release();
    ASSERT_EQ(child.next_report(), 1);
    for (const auto& d : v1_dirs) EXPECT_TRUE(lists_pid(d, child.pid())) << d;
    cg->kill_all();
    child.wait();
    cg->destroy();
    expect_gone(name);
}

namespace {

// A real v1 cgroup whose join files are replaced: the tasks file of a directory that refuses
// every task (a cpuset without CPUs), so that the child's own join fails.
class RefusingJoin final : public Cgroup {
  public:
    RefusingJoin(std::unique_ptr<Cgroup> real, std::string refusing)
        : real_(std::move(real)), refusing_(std::move(refusing)) {}
    void add_process(pid_t pid) override { real_->add_process(pid); }
    truman::CgroupStats stats() const override { return real_->stats(); }
    bool oom_killed() const override { return real_->oom_killed(); }
    void kill_all() override { real_->kill_all(); }
    void destroy() override { real_->destroy(); }
    std::string path() const override { return real_->path(); }
    int dir_fd() const override { return real_->dir_fd(); }
    std::vector<truman::Fd> open_join_files() const override {
        std::vector<truman::Fd> out = real_->open_join_files();
        out.emplace_back(::open((refusing_ + "/tasks").c_str(), O_WRONLY | O_CLOEXEC));
        return out;
    }

  private:
    std::unique_ptr<Cgroup> real_;
    std::string refusing_;
};

class RefusingJoinManager final : public CgroupManager {
  public:
    RefusingJoinManager(std::unique_ptr<CgroupManager> real, std::string refusing)
        : real_(std::move(real)), refusing_(std::move(refusing)) {}
    CgroupMode mode() const override { return real_->mode(); }
    std::unique_ptr<Cgroup> create(const std::string& name, const ContainerSpec& spec) override {
        return std::make_unique<RefusingJoin>(real_->create(name, spec), refusing_);
    }
    std::unique_ptr<Cgroup> open(const std::string& name) override { return real_->open(name); }

  private:
    std::unique_ptr<CgroupManager> real_;
    std::string refusing_;
};

}  // namespace

// The init joins its v1 cgroups itself: when the kernel refuses, create fails with that step
// and errno (not a silent exit), and nothing of the container is left.
TEST_F(CgroupsTest, AnInitThatCannotJoinItsCgroupFailsCreateWithTheStep) {
    if (mode_ == CgroupMode::v2) {
        EXPECT_TRUE(truman::detect_cgroups(kHostCgroupRoot, parent_)
                        ->create(unique_name("v2"), ContainerSpec{})
                        ->open_join_files()
                        .empty());
        return;
    }
    // A sibling cpuset directory of truman's parent, left without CPUs: no task may join it.
    std::string refusing = kHostCgroupRoot + "/cpuset/" + parent_ + "-nocpus";
    ASSERT_EQ(::mkdir(refusing.c_str(), 0755), 0) << refusing;
    RefusingJoinManager manager(truman::detect_cgroups(kHostCgroupRoot, parent_), refusing);
    std::string name = unique_name("refused");
    try {
        truman::Container::create(busybox_spec("exit 0"), make_options(name, &manager));
        ADD_FAILURE() << "create succeeded with a cgroup that refuses its init";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("join the v1 cgroup"), std::string::npos) << e.what();
        EXPECT_EQ(e.err(), ENOSPC) << e.what();
    }
    expect_gone(name);
    EXPECT_EQ(::rmdir(refusing.c_str()), 0) << refusing;
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
    auto manager = truman::detect_cgroups(kHostCgroupRoot, parent_);
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
    auto manager = truman::detect_cgroups(kHostCgroupRoot, parent_);
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

TEST_F(CgroupsTest, CpuQuotaCapsABusyLoop) {
    auto manager = truman::detect_cgroups(kHostCgroupRoot, parent_);
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
    auto manager = truman::detect_cgroups(kHostCgroupRoot, parent_);
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
    auto manager = truman::detect_cgroups(kHostCgroupRoot, parent_);
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
