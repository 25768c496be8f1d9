// The real-kernel cgroup tests' common parts: a forked child to put in a cgroup, a guard
// that removes a cgroup even when a test fails half-way, and the CgroupsTest fixture (a
// per-run parent cgroup in every hierarchy, removed in TearDown, failing on any cgroup left
// in it). The host's mode comes from host_cgroups.hpp.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "host_cgroups.hpp"
#include "test_support.hpp"
#include "truman/cgroups.hpp"
#include "truman/error.hpp"

namespace truman::test {

inline const std::string kHostCgroupRoot = "/sys/fs/cgroup";

inline std::string trimmed(const std::string& path) {
    std::string s = read_file(path);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

inline std::vector<pid_t> procs_of(const std::string& dir) {
    std::vector<pid_t> pids;
    std::istringstream in(read_file(dir + "/cgroup.procs"));
    for (pid_t p; in >> p;) pids.push_back(p);
    return pids;
}

inline bool lists_pid(const std::string& dir, pid_t pid) {
    auto pids = procs_of(dir);
    return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

inline bool offers(const std::string& cgroup2_dir, const std::string& controller) {
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
        before_ = snapshot_host();
        parent_ = unique_name("trcg");
        mode_ = host_cgroup_mode();
    }

    // Every container cgroup a test made under its parent must be gone by now; then the
    // parent goes too, in every hierarchy (leftovers are killed and removed first).
    void TearDown() override {
        for (const auto& leak : remove_cgroup_parent(parent_))
            ADD_FAILURE() << "cgroup left behind: " << leak;
        EXPECT_EQ(leaks_since(before_), "");
    }

    // The directory of container name in the hierarchy holding a v1 controller's files; on
    // a v2 host all of them are in the one directory.
    std::string dir(const std::string& v1_hierarchy, const std::string& name) const {
        if (mode_ == CgroupMode::v2) return kHostCgroupRoot + "/" + parent_ + "/" + name;
        return kHostCgroupRoot + "/" + v1_hierarchy + "/" + parent_ + "/" + name;
    }
    // Its directories in every hierarchy a container uses on this host.
    std::vector<std::string> dirs(const std::string& name) const {
        std::vector<std::string> out;
        for (const auto& h : host_container_hierarchies())
            out.push_back(h + "/" + parent_ + "/" + name);
        return out;
    }
    void expect_gone(const std::string& name) const {
        for (const auto& d : dirs(name)) EXPECT_FALSE(std::filesystem::exists(d)) << d;
    }

    std::string parent_;
    CgroupMode mode_ = CgroupMode::v1;
    HostSnapshot before_;
};

// Fork n idle children (re-parented to the test, a subreaper), report n, then idle.
inline int fork_idlers(int out, int n) {
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
inline void expect_kill_all_empties(Cgroup& cg, const std::vector<std::string>& dirs) {
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

}  // namespace truman::test
