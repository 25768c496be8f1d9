// Fixture trees for the cgroup file logic: a temporary directory laid out like a cgroupfs
// root (v2, or one directory per v1 hierarchy), pre-populated with the control files the
// kernel shows, and the Fixture that plays the kernel's part on mkdir and rmdir in it.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cgroup_backends.hpp"
#include "truman/error.hpp"
#include "truman/spec.hpp"

namespace truman::test {

class CgroupFixtureTree : public cgroup::Fixture {
  public:
    // A cgroup2 root offering controllers ("cpuset cpu io memory pids"). omit: control files
    // this "kernel" lacks, e.g. memory.swap.max without swap accounting.
    static std::shared_ptr<CgroupFixtureTree> v2(const std::string& root,
                                                 const std::string& controllers,
                                                 std::set<std::string> omit = {});
    // A v1 root with one directory per hierarchy ("cpu,cpuacct" carries both; "unified" is
    // the controller-less cgroup2 one of a hybrid host). omit: as for v2, e.g.
    // memory.memsw.limit_in_bytes.
    static std::shared_ptr<CgroupFixtureTree> v1(const std::string& root,
                                                 const std::vector<std::string>& hierarchies,
                                                 std::set<std::string> omit = {});

    void populate(const std::string& dir) const override;
    void depopulate(const std::string& dir) const override;

    // The control files a new cgroup at dir gets.
    std::vector<std::string> control_files(const std::string& dir) const;

  protected:
    CgroupFixtureTree(std::string root, bool v2, std::vector<std::string> controllers,
                      std::set<std::string> omit);

  private:
    std::string root_;
    bool v2_;
    std::vector<std::string> controllers_;  // v2: offered by the root
    std::set<std::string> omit_;
};

// Options for a backend on a fixture tree; v2's device rules go to record (or nowhere).
cgroup::BackendOptions fixture_options(
    std::shared_ptr<const cgroup::Fixture> tree,
    std::function<void(int, const std::vector<DeviceRule>&)> record = {});

// The hierarchies of a hybrid host.
extern const std::vector<std::string> kAllV1Hierarchies;

// A spec with every limit truman knows (memory+swap, cpu shares/quota/period/cpus/mems,
// unlimited pids).
ContainerSpec limited_spec();

// Writes a file, making its directory: the test playing the kernel (stats, events).
void put(const std::string& path, const std::string& text);
// A file without its trailing newlines.
std::string trimmed(const std::string& path);
// The kind of the truman::Error f throws (and its message); a test failure if none.
ErrorKind kind_of(const std::function<void()>& f, std::string* message = nullptr);

}  // namespace truman::test
