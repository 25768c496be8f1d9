// Cgroup mode detection, the helpers both backends share, and the default device allow-list.
#include "truman/cgroups.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include "cgroup_backends.hpp"
#include "truman/devices.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman {

const char* to_string(CgroupMode mode) noexcept {
    switch (mode) {
        case CgroupMode::v2:
            return "v2";
        case CgroupMode::v1:
            return "v1";
    }
    return "v1";
}

JoinFiles open_join_files(const Cgroup* cgroup) {
    JoinFiles out;
    if (!cgroup) return out;
    out.files = cgroup->open_join_files();
    out.fds.reserve(out.files.size());
    for (const auto& f : out.files) out.fds.push_back(f.get());
    return out;
}

std::unique_ptr<CgroupManager> detect_cgroups(const std::string& root, const std::string& parent) {
    return cgroup::detect(root, parent);
}

}  // namespace truman

namespace truman::cgroup {

long filesystem_magic(const std::string& path) {
    struct statfs st {};
    if (::statfs(path.c_str(), &st) != 0) {
        int err = errno;
        throw make_error(err == ENOENT ? ErrorKind::not_found : ErrorKind::system, "statfs " + path,
                         err);
    }
    return static_cast<long>(st.f_type);
}

void write_file(const std::string& path, const std::string& value) {
    // O_TRUNC is a no-op on cgroupfs; in a fixture tree it makes the file hold the last write.
    int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) throw system_error("open " + path);
    Fd guard(fd);
    ssize_t n = ::write(fd, value.data(), value.size());
    if (n < 0) throw system_error("write \"" + value + "\" to " + path);
    if (static_cast<size_t>(n) != value.size())
        throw system_error("short write \"" + value + "\" to " + path, EIO);
}

std::optional<std::string> read_file_if_exists(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw system_error("open " + path);
    }
    Fd guard(fd);
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw system_error("read " + path);
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

bool file_exists(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

uint64_t read_u64(const std::string& path) {
    auto text = read_file_if_exists(path);
    if (!text) return 0;
    std::istringstream in(*text);
    uint64_t value = 0;
    in >> value;
    return in.fail() ? 0 : value;
}

uint64_t read_keyed_u64(const std::string& path, const std::string& key) {
    auto text = read_file_if_exists(path);
    if (!text) return 0;
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) {
        std::istringstream fields(line);
        std::string name;
        uint64_t value = 0;
        if (fields >> name >> value && name == key) return value;
    }
    return 0;
}

std::vector<pid_t> read_pids(const std::string& procs_path) {
    std::vector<pid_t> pids;
    auto text = read_file_if_exists(procs_path);
    if (!text) return pids;
    std::istringstream in(*text);
    for (pid_t pid; in >> pid;) pids.push_back(pid);
    return pids;
}

void set_limit(const std::string& field, const std::string& dir, const std::string& file,
               const std::string& value) {
    std::string path = dir + "/" + file;
    try {
        write_file(path, value);
    } catch (const Error& e) {
        // ENOENT on cgroupfs: the controller is there but this kernel lacks the knob.
        // EINVAL/ERANGE: the kernel rejected the value itself (cpus it does not have, ...).
        ErrorKind kind = ErrorKind::system;
        if (e.err() == ENOENT) kind = ErrorKind::unsupported;
        if (e.err() == EINVAL || e.err() == ERANGE) kind = ErrorKind::invalid;
        throw Error(kind, e.err(), field + ": " + e.what());
    }
}

namespace {

// The split of a relative path of plain components (the caller checked it).
std::vector<std::string> components(const std::string& relative) {
    std::vector<std::string> parts;
    std::istringstream in(relative);
    for (std::string part; std::getline(in, part, '/');)
        if (!part.empty()) parts.push_back(part);
    return parts;
}

// 0 or the errno of the last rmdir attempt.
int remove_cgroup_dir_errno(const std::string& dir, const Fixture* fixture) {
    using namespace std::chrono;
    if (fixture && file_exists(dir)) fixture->depopulate(dir);
    auto deadline = steady_clock::now() + seconds(5);
    for (;;) {
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return 0;
        int err = errno;
        if (err != EBUSY || steady_clock::now() > deadline) return err;
        std::this_thread::sleep_for(milliseconds(10));
    }
}

}  // namespace

std::vector<std::string> make_cgroup_dirs(const std::string& base, const std::string& relative,
                                          const Fixture* fixture) {
    std::vector<std::string> levels;
    std::string level = base;
    for (const auto& part : components(relative)) {
        level += "/" + part;
        if (::mkdir(level.c_str(), 0755) == 0) {
            if (fixture) fixture->populate(level);
        } else if (errno != EEXIST) {
            throw system_error("mkdir " + level);
        }
        levels.push_back(level);
    }
    return levels;
}

void make_cgroup_dir(const std::string& dir, const Fixture* fixture) {
    if (::mkdir(dir.c_str(), 0755) != 0) {
        int err = errno;
        if (err == EEXIST)
            throw make_error(ErrorKind::conflict, "cgroup " + dir + " already exists");
        throw system_error("mkdir " + dir, err);
    }
    if (fixture) fixture->populate(dir);
}

void remove_cgroup_dir(const std::string& dir, const Fixture* fixture) {
    if (int err = remove_cgroup_dir_errno(dir, fixture)) throw system_error("rmdir " + dir, err);
}

void remove_and_rethrow(const std::vector<std::string>& dirs, const Fixture* fixture) {
    std::string left;
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
        int err = 0;
        try {
            err = remove_cgroup_dir_errno(*it, fixture);
        } catch (const std::exception& e) {  // only a fixture's depopulate throws
            left += std::string("; left ") + *it + " behind: " + e.what();
            continue;
        }
        if (err) left += "; left " + *it + " behind: rmdir: " + errno_text(err);
    }
    try {
        throw;
    } catch (const Error& e) {
        if (left.empty()) throw;
        throw Error(e.kind(), e.err(), e.what() + left);
    }
}

bool wait_until_empty(const std::string& procs_path, int timeout_ms) {
    using namespace std::chrono;
    auto deadline = steady_clock::now() + milliseconds(timeout_ms);
    for (;;) {
        if (read_pids(procs_path).empty()) return true;
        if (steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(milliseconds(5));
    }
}

void kill_until_empty(const std::string& procs_path) {
    for (int round = 0; round < 100; ++round) {
        auto pids = read_pids(procs_path);
        if (pids.empty()) return;
        for (pid_t pid : pids) ::kill(pid, SIGKILL);
        if (wait_until_empty(procs_path, 20)) return;
    }
    expect_empty(procs_path);
}

void expect_empty(const std::string& procs_path) {
    auto pids = read_pids(procs_path);
    if (pids.empty()) return;
    std::string list;
    for (pid_t pid : pids) list += (list.empty() ? "" : " ") + std::to_string(pid);
    throw make_error(ErrorKind::system, procs_path + " still lists " + list + " after SIGKILL",
                     EBUSY);
}

void check_name(const std::string& name) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
        name.find('\0') != std::string::npos)
        throw invalid_argument("cgroup name", "must be one path component, got \"" + name + "\"");
}

void controller_missing(const std::string& field, const std::string& controller, const Error* why) {
    std::string message = field + ": the " + controller + " controller is not available";
    if (!why) throw Error(ErrorKind::unsupported, ENOTSUP, message);
    throw Error(ErrorKind::unsupported, why->err(), message + " (" + why->what() + ")");
}

uint64_t cpu_weight_from_shares(uint64_t shares) {
    if (shares < 2) shares = 2;
    if (shares > 262144) shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

namespace {

DeviceRule allow_char(int64_t major, std::optional<int64_t> minor) {
    DeviceRule rule;
    rule.allow = true;
    rule.type = 'c';
    rule.major = major;
    rule.minor = minor;
    rule.access = "rwm";
    return rule;
}

}  // namespace

std::vector<DeviceRule> device_rules(const ContainerSpec& spec) {
    // The spec's own rules come first and the nodes every container must be able to use
    // last (the last matching rule wins), as runc does: `runc spec` writes a deny-all rule
    // into linux.resources.devices, which must not take /dev/null away.
    validate_devices(spec.linux);
    std::vector<DeviceRule> rules = spec.linux.resources.devices;
    rules.insert(rules.end(), {
                                  allow_char(1, 3),               // null
                                  allow_char(1, 5),               // zero
                                  allow_char(1, 7),               // full
                                  allow_char(1, 8),               // random
                                  allow_char(1, 9),               // urandom
                                  allow_char(5, 0),               // tty
                                  allow_char(5, 1),               // console
                                  allow_char(5, 2),               // ptmx
                                  allow_char(136, std::nullopt),  // pts/*
                              });
    for (const Device& dev : spec.linux.devices) {
        // A FIFO is not a device: the controller never asks about it.
        if (!device_has_numbers(dev.type)) continue;
        DeviceRule rule = allow_char(dev.major, dev.minor);
        rule.type = dev.type == 'b' ? 'b' : 'c';
        rules.push_back(rule);
    }
    return rules;
}

std::vector<std::string> v1_device_rule_texts(const DeviceRule& rule) {
    auto number = [](const std::optional<int64_t>& n) {
        return n ? std::to_string(*n) : std::string("*");
    };
    bool everything = !rule.major && !rule.minor && rule.access.find('r') != std::string::npos &&
                      rule.access.find('w') != std::string::npos &&
                      rule.access.find('m') != std::string::npos;
    if (rule.type == 'a' && everything) return {"a"};
    std::string rest = " " + number(rule.major) + ":" + number(rule.minor) + " " + rule.access;
    if (rule.type == 'a') return {"c" + rest, "b" + rest};
    return {std::string(1, rule.type) + rest};
}

CgroupMode detect_mode(const std::string& root, const Fixture* fixture) {
    long magic = filesystem_magic(root);
    if (magic == CGROUP2_SUPER_MAGIC) return CgroupMode::v2;
    // A fixture tree standing in for a cgroup2 root shows the one file only cgroup2 roots
    // have; a real v1/hybrid root is a tmpfs of per-controller mounts, which the v1 backend
    // checks one by one.
    if (fixture && file_exists(root + "/cgroup.controllers")) return CgroupMode::v2;
    return CgroupMode::v1;
}

std::unique_ptr<CgroupManager> detect(const std::string& root, const std::string& parent,
                                      BackendOptions options) {
    // A relative path of plain components: it must stay below root.
    std::istringstream parts(parent);
    bool ok = !parent.empty() && parent.front() != '/';
    for (std::string part; ok && std::getline(parts, part, '/');)
        ok = !part.empty() && part != "." && part != "..";
    if (!ok)
        throw invalid_argument(
            "cgroup parent",
            "must be a relative path below the cgroup root, got \"" + parent + "\"");
    CgroupMode mode = CgroupMode::v1;
    try {
        mode = detect_mode(root, options.fixture.get());
    } catch (const Error& e) {
        throw Error(e.kind(), e.err(), std::string("cgroup root: ") + e.what());
    }
    if (mode == CgroupMode::v2) return make_cgroup_v2(root, parent, std::move(options));
    return make_cgroup_v1(root, parent, std::move(options));
}

}  // namespace truman::cgroup
