#include "cgroup_fixture.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "test_support.hpp"

namespace fs = std::filesystem;

namespace truman::test {

namespace {

// What a fresh cgroup's files read, where it matters; every other file starts empty.
const std::map<std::string, std::string> kInitial = {
    {"memory.max", "max\n"},
    {"memory.swap.max", "max\n"},
    {"memory.current", "0\n"},
    {"memory.peak", "0\n"},
    {"cpu.weight", "100\n"},
    {"cpu.max", "max 100000\n"},
    {"pids.max", "max\n"},
    {"pids.current", "0\n"},
    {"memory.limit_in_bytes", "9223372036854771712\n"},
    {"memory.memsw.limit_in_bytes", "9223372036854771712\n"},
    {"memory.usage_in_bytes", "0\n"},
    {"memory.max_usage_in_bytes", "0\n"},
    {"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"},
    {"cpu.shares", "1024\n"},
    {"cpu.cfs_quota_us", "-1\n"},
    {"cpu.cfs_period_us", "100000\n"},
    {"cpuacct.usage", "0\n"},
    {"freezer.state", "THAWED\n"},
    {"devices.list", "a *:* rwm\n"},
};

const std::map<std::string, std::vector<std::string>> kV2ControllerFiles = {
    {"memory", {"memory.max", "memory.swap.max", "memory.current", "memory.peak", "memory.events"}},
    {"cpu", {"cpu.weight", "cpu.max"}},
    {"cpuset", {"cpuset.cpus", "cpuset.mems"}},
    {"pids", {"pids.max", "pids.current"}},
    {"io", {"io.max"}},
};

const std::map<std::string, std::vector<std::string>> kV1HierarchyFiles = {
    {"memory",
     {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.usage_in_bytes",
      "memory.max_usage_in_bytes", "memory.oom_control"}},
    {"cpu", {"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"}},
    {"cpuacct", {"cpuacct.usage"}},
    {"cpuset", {"cpuset.cpus", "cpuset.mems"}},
    {"pids", {"pids.max", "pids.current"}},
    {"devices", {"devices.allow", "devices.deny", "devices.list"}},
    {"freezer", {"freezer.state"}},
    {"blkio", {"blkio.weight"}},
    // cgroup2 core files; cgroup.kill stays out: nothing in a fixture can die.
    {"unified", {"cgroup.controllers", "cgroup.subtree_control", "cgroup.events"}},
};

void write_new(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    if (!out) throw std::runtime_error("fixture: cannot create " + path);
    out << text;
}

std::string initial(const std::string& file) {
    auto it = kInitial.find(file);
    return it == kInitial.end() ? "" : it->second;
}

}  // namespace

CgroupFixtureTree::CgroupFixtureTree(std::string root, bool v2,
                                     std::vector<std::string> controllers,
                                     std::set<std::string> omit)
    : root_(std::move(root)),
      v2_(v2),
      controllers_(std::move(controllers)),
      omit_(std::move(omit)) {}

std::shared_ptr<CgroupFixtureTree> CgroupFixtureTree::v2(const std::string& root,
                                                         const std::string& controllers,
                                                         std::set<std::string> omit) {
    std::vector<std::string> offered;
    std::istringstream in(controllers);
    for (std::string c; in >> c;) offered.push_back(c);
    std::shared_ptr<CgroupFixtureTree> tree(
        new CgroupFixtureTree(root, true, offered, std::move(omit)));
    // The root cgroup: its core files only (no controller files at the root).
    fs::create_directories(root);
    write_new(root + "/cgroup.controllers", controllers + "\n");
    write_new(root + "/cgroup.subtree_control", "");
    write_new(root + "/cgroup.procs", "");
    return tree;
}

std::shared_ptr<CgroupFixtureTree> CgroupFixtureTree::v1(
    const std::string& root, const std::vector<std::string>& hierarchies,
    std::set<std::string> omit) {
    std::shared_ptr<CgroupFixtureTree> tree(
        new CgroupFixtureTree(root, false, {}, std::move(omit)));
    for (const auto& h : hierarchies) {
        std::string dir = root + "/" + h;
        fs::create_directories(dir);
        tree->populate(dir);
        // A root cpuset owns every CPU and memory node; a new one starts empty.
        if (h == "cpuset") {
            write_new(dir + "/cpuset.cpus", "0-3\n");
            write_new(dir + "/cpuset.mems", "0\n");
        }
    }
    return tree;
}

std::vector<std::string> CgroupFixtureTree::control_files(const std::string& dir) const {
    std::vector<std::string> files = {"cgroup.procs"};
    auto add = [&](const std::vector<std::string>& more) {
        for (const auto& f : more)
            if (!omit_.count(f)) files.push_back(f);
    };
    if (v2_) {
        add({"cgroup.controllers", "cgroup.subtree_control", "cgroup.events"});
        for (const auto& c : controllers_) {
            auto it = kV2ControllerFiles.find(c);
            if (it != kV2ControllerFiles.end()) add(it->second);
        }
        return files;
    }
    // v1: the hierarchy is the first component below the root ("cpu,cpuacct" has both).
    std::string rest = fs::relative(dir, root_).string();
    std::istringstream names(rest.substr(0, rest.find('/')));
    for (std::string name; std::getline(names, name, ',');) {
        auto it = kV1HierarchyFiles.find(name);
        if (it != kV1HierarchyFiles.end()) add(it->second);
    }
    return files;
}

void CgroupFixtureTree::populate(const std::string& dir) const {
    for (const auto& f : control_files(dir)) write_new(dir + "/" + f, initial(f));
}

void CgroupFixtureTree::depopulate(const std::string& dir) const {
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.is_regular_file()) fs::remove(entry.path());
}

cgroup::BackendOptions fixture_options(
    std::shared_ptr<const cgroup::Fixture> tree,
    std::function<void(int, const std::vector<DeviceRule>&)> record) {
    cgroup::BackendOptions options;
    options.fixture = std::move(tree);
    options.apply_device_rules = record ? std::move(record) : [](int, auto&) {};
    return options;
}

const std::vector<std::string> kAllV1Hierarchies = {
    "memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio", "unified"};

ContainerSpec limited_spec() {
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 64 << 20;
    spec.linux.resources.memory.swap = 96 << 20;
    spec.linux.resources.cpu.shares = 512;
    spec.linux.resources.cpu.quota = 50000;
    spec.linux.resources.cpu.period = 100000;
    spec.linux.resources.cpu.cpus = "0-1";
    spec.linux.resources.cpu.mems = "0";
    spec.linux.resources.pids.limit = -1;
    return spec;
}

void put(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
}

std::string trimmed(const std::string& path) {
    std::string s = read_file(path);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

ErrorKind kind_of(const std::function<void()>& f, std::string* message) {
    try {
        f();
    } catch (const Error& e) {
        if (message) *message = e.what();
        return e.kind();
    }
    ADD_FAILURE() << "no truman::Error thrown";
    return ErrorKind::system;
}

}  // namespace truman::test
