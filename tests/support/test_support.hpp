// Shared helpers for truman's tests: a busybox root filesystem, unique names, and snapshots
// of host resources so that tests can prove nothing leaked.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace truman::test {

// A busybox root filesystem made once per test process under /tmp and removed at exit:
// /bin/busybox (static) with a symlink per applet, /etc/passwd, /etc/group, and empty
// /proc /sys /dev /tmp /root mount points.
const std::string& busybox_rootfs();
// Make a fresh one at dir (for tests that write into their root).
void make_busybox_rootfs(const std::string& dir);

// "prefix-<pid>-<counter>": unique per test run, short enough for an interface name (<= 15).
std::string unique_name(const std::string& prefix);

// A fresh temporary directory, removed (recursively) by the destructor.
class TempDir {
  public:
    explicit TempDir(const std::string& prefix = "truman-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

// Host resources a container could leak, to compare before vs after.
struct HostSnapshot {
    std::vector<std::string> mounts;  // mount points from /proc/self/mountinfo
    std::set<std::string> links;      // /sys/class/net
    std::set<std::string> fds;        // /proc/self/fd entries with their targets
    std::set<std::string> netns;      // /run/netns
    int children = 0;                 // zombie or live children of this process
};
HostSnapshot snapshot_host();
// Waits up to timeout_ms for asynchronous teardown (netns links) before reporting the
// difference as a human-readable list; empty string means nothing leaked.
std::string leaks_since(const HostSnapshot& before, int timeout_ms = 5000);

// Read a whole file; throws std::runtime_error if it cannot.
std::string read_file(const std::string& path);
// Run a shell command on the host, return its exit status and output (stdout+stderr).
int run_host(const std::string& command, std::string* output = nullptr);

}  // namespace truman::test
