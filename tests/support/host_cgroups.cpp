#include "host_cgroups.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace truman::test {

namespace {

const std::string kCgroupRoot = "/sys/fs/cgroup";

// Depth-first, children before their parent, so that rmdir can go in list order.
void collect_children(const fs::path& dir, std::vector<fs::path>& out) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (!entry.is_directory(ec) || entry.is_symlink(ec)) continue;
        collect_children(entry.path(), out);
        out.push_back(entry.path());
    }
}

// SIGKILL what is in dir and rmdir it, waiting up to ~5 s for the tasks to leave; "" on
// success, else why not.
std::string kill_and_remove(const fs::path& dir) {
    for (int i = 0; i < 500; ++i) {
        std::ifstream procs(dir / "cgroup.procs");
        for (pid_t pid; procs >> pid;) ::kill(pid, SIGKILL);
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return "";
        if (errno != EBUSY) break;
        ::usleep(10000);
    }
    return std::string(": ") + std::strerror(errno);
}

}  // namespace

std::vector<CgroupMount> host_cgroup_mounts() {
    std::vector<CgroupMount> mounts;
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
        // id parent major:minor root mount-point options [optional fields] - type source ...
        std::istringstream fields(line);
        std::string id, parent, dev, root, point, options, field;
        fields >> id >> parent >> dev >> root >> point >> options;
        while (fields >> field && field != "-") {
        }
        std::string type;
        fields >> type;
        if (type != "cgroup" && type != "cgroup2") continue;
        if (point != kCgroupRoot && point.rfind(kCgroupRoot + "/", 0) != 0) continue;
        mounts.push_back({point, type == "cgroup2"});
    }
    return mounts;
}

CgroupMode host_cgroup_mode() {
    for (const auto& m : host_cgroup_mounts())
        if (m.path == kCgroupRoot && m.v2) return CgroupMode::v2;
    return CgroupMode::v1;
}

std::string host_cgroup2_mount() {
    for (const auto& m : host_cgroup_mounts())
        if (m.v2) return m.path;
    throw std::runtime_error("this host has no cgroup2 mount below " + kCgroupRoot);
}

std::vector<std::string> host_container_hierarchies() {
    static const std::vector<std::string> used = {"memory", "cpu",     "cpuacct", "cpuset",
                                                  "pids",   "devices", "freezer", "blkio"};
    std::vector<std::string> out;
    for (const auto& m : host_cgroup_mounts()) {
        // A mount may carry several controllers: /sys/fs/cgroup/cpu,cpuacct.
        bool ours = m.v2;
        std::istringstream names(fs::path(m.path).filename().string());
        for (std::string name; !ours && std::getline(names, name, ',');)
            ours = std::find(used.begin(), used.end(), name) != used.end();
        if (ours) out.push_back(m.path);
    }
    return out;
}

std::vector<std::string> host_cgroup_dirs(const std::string& relative) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& m : host_cgroup_mounts()) {
        std::string dir = m.path + "/" + relative;
        if (fs::exists(dir, ec)) out.push_back(dir);
    }
    return out;
}

std::vector<std::string> remove_cgroup_parent(const std::string& parent) {
    std::vector<std::string> leaks;
    std::error_code ec;
    for (const auto& m : host_cgroup_mounts()) {
        fs::path dir = m.path + "/" + parent;
        if (!fs::exists(dir, ec)) continue;
        std::vector<fs::path> children;
        collect_children(dir, children);
        for (const auto& child : children) leaks.push_back(child.string() + kill_and_remove(child));
        std::string why = kill_and_remove(dir);
        if (!why.empty()) leaks.push_back(dir.string() + why);
    }
    return leaks;
}

void remove_stale_cgroup_parents(const std::string& prefix) {
    std::set<std::string> stale;
    std::error_code ec;
    for (const auto& m : host_cgroup_mounts())
        for (const auto& e : fs::directory_iterator(m.path, ec)) {
            std::string name = e.path().filename().string();
            if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) continue;
            std::string digits = name.substr(prefix.size());
            if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
                continue;
            pid_t pid = static_cast<pid_t>(std::stol(digits));
            if (::kill(pid, 0) != 0 && errno == ESRCH) stale.insert(name);
        }
    for (const auto& name : stale) remove_cgroup_parent(name);
}

}  // namespace truman::test
