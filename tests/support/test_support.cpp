#include "test_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "truman/rootfs.hpp"

namespace fs = std::filesystem;

namespace truman::test {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

int run_host(const std::string& command, std::string* output) {
    FILE* p = popen((command + " 2>&1").c_str(), "r");
    if (!p) throw std::runtime_error("popen " + command);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = pclose(p);
    if (output) *output = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void make_busybox_rootfs(const std::string& dir) {
    truman::make_busybox_rootfs(dir, TRUMAN_BUSYBOX);
}

namespace {
struct RootfsHolder {
    std::string dir;
    ~RootfsHolder() {
        std::error_code ec;
        if (!dir.empty()) fs::remove_all(dir, ec);
    }
};
}  // namespace

const std::string& busybox_rootfs() {
    static RootfsHolder holder;
    if (holder.dir.empty()) {
        char tmpl[] = "/tmp/truman-rootfs-XXXXXX";
        if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
        chmod(tmpl, 0755);
        make_busybox_rootfs(tmpl);
        holder.dir = tmpl;
    }
    return holder.dir;
}

std::string unique_name(const std::string& prefix) {
    static std::atomic<int> counter{0};
    return prefix + std::to_string(getpid() % 100000) + "-" + std::to_string(counter++);
}

TempDir::TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl);
    chmod(tmpl.c_str(), 0755);
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

namespace {
std::set<std::string> dir_entries(const std::string& dir, bool with_link_target = false) {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(dir, ec)) {
        std::string name = e.path().filename();
        if (with_link_target) {
            std::error_code ec2;
            name += " -> " + fs::read_symlink(e.path(), ec2).string();
        }
        out.insert(name);
    }
    return out;
}

int count_children() {
    int n = 0;
    std::string self = std::to_string(getpid());
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/proc", ec)) {
        std::string pid = e.path().filename();
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(e.path() / "stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        std::string state, ppid;
        rest >> state >> ppid;
        if (ppid == self) ++n;
    }
    return n;
}
}  // namespace

HostSnapshot snapshot_host() {
    HostSnapshot s;
    std::ifstream mi("/proc/self/mountinfo");
    for (std::string line; std::getline(mi, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, point;
        f >> id >> parent >> dev >> root >> point;
        s.mounts.push_back(point);
    }
    s.links = dir_entries("/sys/class/net");
    s.fds = dir_entries("/proc/self/fd", true);
    s.netns = dir_entries("/run/netns");
    s.children = count_children();
    return s;
}

std::string leaks_since(const HostSnapshot& before, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        HostSnapshot now = snapshot_host();
        std::ostringstream out;
        if (now.mounts != before.mounts)
            out << "mounts changed (" << before.mounts.size() << " -> " << now.mounts.size()
                << "); ";
        for (auto& l : now.links)
            if (!before.links.count(l)) out << "link " << l << " left; ";
        for (auto& f : now.fds)
            // the directory iterator's own descriptor points into /proc
            if (!before.fds.count(f) && f.find("/proc/") == std::string::npos)
                out << "fd " << f << " left; ";
        for (auto& n : now.netns)
            if (!before.netns.count(n)) out << "netns " << n << " left; ";
        if (now.children > before.children)
            out << now.children - before.children << " child process(es) left; ";
        std::string report = out.str();
        if (report.empty() || std::chrono::steady_clock::now() > deadline) return report;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace truman::test
