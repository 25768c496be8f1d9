// cgroup v1 (and hybrid hosts): one directory per container in every hierarchy truman uses,
// <root>/<hierarchy>/<parent>/<name>, plus one in the controller-less cgroup2 "unified"
// hierarchy when there is one, so that a cgroup namespace sees the container's own cgroup
// there too.
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cgroup_backends.hpp"
#include "truman/error.hpp"

namespace truman::cgroup {

namespace {

// The hierarchies a container is put in, by the directory name under the root.
constexpr const char* kHierarchies[] = {"memory",  "cpu",     "cpuacct", "cpuset", "pids",
                                        "devices", "freezer", "blkio",   "unified"};

struct Dirs {
    std::vector<std::string> all;                     // distinct directories, creation order
    std::map<std::string, std::string> by_hierarchy;  // "cpu" -> its directory

    std::string get(const std::string& hierarchy) const {
        auto it = by_hierarchy.find(hierarchy);
        return it == by_hierarchy.end() ? std::string() : it->second;
    }
};

class CgroupV1 final : public Cgroup {
  public:
    CgroupV1(Dirs dirs, std::shared_ptr<const Fixture> fixture)
        : dirs_(std::move(dirs)), fixture_(std::move(fixture)) {
        // The cgroup2 directory of a hybrid host is joined at clone3 (dir_fd); a fixture's
        // files are plain files, joined by add_process.
        std::string unified = dirs_.get("unified");
        if (!fixture_ && !unified.empty()) {
            unified_.reset(::open(unified.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!unified_) throw system_error("open " + unified);
        }
    }

    void add_process(pid_t pid) override {
        for (const auto& dir : dirs_.all) write_file(dir + "/cgroup.procs", std::to_string(pid));
    }

    int dir_fd() const override { return unified_.get(); }

    std::vector<Fd> open_join_files() const override {
        std::vector<Fd> out;
        if (fixture_) return out;
        std::string unified = dirs_.get("unified");
        for (const auto& dir : dirs_.all) {
            if (dir == unified) continue;
            std::string tasks = dir + "/tasks";
            Fd fd(::open(tasks.c_str(), O_WRONLY | O_CLOEXEC));
            if (!fd) throw system_error("open " + tasks);
            out.push_back(std::move(fd));
        }
        return out;
    }

    CgroupStats stats() const override {
        CgroupStats s;
        std::string memory = dirs_.get("memory");
        if (!memory.empty()) {
            s.memory_current = read_u64(memory + "/memory.usage_in_bytes");
            s.memory_peak = read_u64(memory + "/memory.max_usage_in_bytes");
            s.oom_kills = read_keyed_u64(memory + "/memory.oom_control", "oom_kill");
        }
        std::string cpuacct = dirs_.get("cpuacct");
        if (!cpuacct.empty()) s.cpu_usage_usec = read_u64(cpuacct + "/cpuacct.usage") / 1000;
        std::string pids = dirs_.get("pids");
        if (!pids.empty()) s.pids_current = read_u64(pids + "/pids.current");
        return s;
    }

    bool oom_killed() const override {
        std::string memory = dirs_.get("memory");
        return !memory.empty() && read_keyed_u64(memory + "/memory.oom_control", "oom_kill") > 0;
    }

    void kill_all() override {
        if (dirs_.all.empty()) return;
        std::string procs = dirs_.all.front() + "/cgroup.procs";
        std::string freezer = dirs_.get("freezer");
        // A cgroup already removed holds nothing to kill (and has no freezer.state).
        if (!freezer.empty() && file_exists(freezer)) {
            // Frozen tasks cannot fork, so the list we read is complete; SIGKILL is delivered
            // as soon as they are thawed, so thaw whatever happens in between.
            write_file(freezer + "/freezer.state", "FROZEN");
            try {
                for (int i = 0; i < 200; ++i) {
                    auto state = read_file_if_exists(freezer + "/freezer.state");
                    if (!state || state->rfind("FROZEN", 0) == 0) break;
                    ::usleep(5000);
                }
                for (pid_t pid : read_pids(freezer + "/cgroup.procs")) ::kill(pid, SIGKILL);
            } catch (...) {
                write_file(freezer + "/freezer.state", "THAWED");
                throw;
            }
            write_file(freezer + "/freezer.state", "THAWED");
        }
        // Without a freezer (or for a task that raced in): kill until the list is empty.
        kill_until_empty(procs);
    }

    void destroy() override {
        // The directories live in separate hierarchies, so any order works. Keep going after
        // a failure so one busy hierarchy does not leave the others behind, then report
        // every failure (with the first one's errno).
        std::optional<Error> failed;
        for (const auto& dir : dirs_.all) {
            try {
                remove_cgroup_dir(dir, fixture_.get());
            } catch (const Error& e) {
                if (!failed)
                    failed = e;
                else
                    failed = Error(failed->kind(), failed->err(),
                                   std::string(failed->what()) + "; " + e.what());
            }
        }
        if (failed) throw *failed;
    }

    std::string path() const override {
        std::string memory = dirs_.get("memory");
        if (!memory.empty()) return memory;
        return dirs_.all.empty() ? std::string() : dirs_.all.front();
    }

  private:
    Dirs dirs_;
    std::shared_ptr<const Fixture> fixture_;
    Fd unified_;
};

// The filesystem a hierarchy named name must be: "unified" is the cgroup2 one of a hybrid
// host, every other name a v1 controller's.
long expected_magic(const std::string& name) {
    return name == "unified" ? CGROUP2_SUPER_MAGIC : CGROUP_SUPER_MAGIC;
}

bool is_empty_value(const std::optional<std::string>& text) {
    return !text || text->find_first_not_of(" \n") == std::string::npos;
}

// v1 cpuset starts with empty cpus and mems, and a task cannot join such a cgroup: copy
// the parent's before anything else.
void inherit_cpuset(const std::string& from, const std::string& to) {
    for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
        if (!is_empty_value(read_file_if_exists(to + "/" + file))) continue;
        auto value = read_file_if_exists(from + "/" + file);
        if (is_empty_value(value)) continue;
        std::string trimmed = value->substr(0, value->find_last_not_of(" \n") + 1);
        write_file(to + "/" + file, trimmed);
    }
}

class CgroupV1Manager final : public CgroupManager {
  public:
    CgroupV1Manager(std::string root, std::string parent, BackendOptions options)
        : root_(std::move(root)), parent_(std::move(parent)), fixture_(std::move(options.fixture)) {
        std::map<std::string, std::string> seen;  // real path -> first hierarchy name
        for (const char* name : kHierarchies) {
            std::string mount = root_ + "/" + name;
            struct stat st {};
            if (::stat(mount.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
            // A directory that is not a mount of that hierarchy is no hierarchy: writing
            // limits into it would enforce nothing.
            if (!fixture_ && filesystem_magic(mount) != expected_magic(name)) continue;
            // "cpu" and "cpuacct" are often symlinks to one "cpu,cpuacct" mount: one
            // directory serves both names.
            char real[PATH_MAX];
            std::string key = ::realpath(mount.c_str(), real) ? real : mount;
            auto [it, fresh] = seen.emplace(key, name);
            mounts_[name] = root_ + "/" + it->second;
            if (fresh) distinct_.push_back(name);
        }
        if (mounts_.empty())
            throw make_error(ErrorKind::unsupported,
                             root_ +
                                 " is neither a cgroup2 mount nor holds cgroup v1 "
                                 "hierarchies (memory, cpu, pids, ...)");
        for (const auto& name : distinct_) {
            auto levels = make_cgroup_dirs(mounts_[name], parent_, fixture_.get());
            if (name == "cpuset") inherit_cpuset_down(mounts_[name], levels);
        }
    }

    CgroupMode mode() const override { return CgroupMode::v1; }

    std::unique_ptr<Cgroup> create(const std::string& name, const ContainerSpec& spec) override {
        check_name(name);
        const Resources& res = spec.linux.resources;
        validate_resources(res);
        check_available(res);
        std::vector<DeviceRule> rules = device_rules(spec);

        Dirs dirs = dirs_for(name);
        std::vector<std::string> made;
        try {
            for (const auto& dir : dirs.all) {
                make_cgroup_dir(dir, fixture_.get());
                made.push_back(dir);
            }
            std::string cpuset = dirs.get("cpuset");
            if (!cpuset.empty()) inherit_cpuset(mounts_.at("cpuset") + "/" + parent_, cpuset);
            apply_limits(dirs, res);
            apply_devices(dirs.get("devices"), rules);
        } catch (...) {
            remove_and_rethrow(made, fixture_.get());
        }
        return std::make_unique<CgroupV1>(std::move(dirs), fixture_);
    }

    std::unique_ptr<Cgroup> open(const std::string& name) override {
        check_name(name);
        Dirs all = dirs_for(name);
        Dirs present;
        for (const auto& [hierarchy, dir] : all.by_hierarchy)
            if (file_exists(dir)) present.by_hierarchy[hierarchy] = dir;
        for (const auto& dir : all.all)
            if (file_exists(dir)) present.all.push_back(dir);
        if (present.all.empty()) return nullptr;
        return std::make_unique<CgroupV1>(std::move(present), fixture_);
    }

  private:
    static void inherit_cpuset_down(const std::string& mount,
                                    const std::vector<std::string>& levels) {
        std::string from = mount;
        for (const auto& to : levels) {
            inherit_cpuset(from, to);
            from = to;
        }
    }

    Dirs dirs_for(const std::string& name) const {
        Dirs dirs;
        const std::string below = "/" + parent_ + "/" + name;
        for (const auto& [hierarchy, mount] : mounts_) dirs.by_hierarchy[hierarchy] = mount + below;
        for (const auto& hierarchy : distinct_)
            dirs.all.push_back(mounts_.at(hierarchy) + "/" + parent_ + "/" + name);
        return dirs;
    }

    bool has(const std::string& hierarchy) const { return mounts_.count(hierarchy) != 0; }

    void need(const std::string& hierarchy, const std::string& field) const {
        if (!has(hierarchy)) controller_missing(field, hierarchy);
    }

    // Before anything is made: a limit truman cannot enforce is an error, not a silent no-op.
    void check_available(const Resources& res) const {
        if (res.memory.limit) need("memory", "linux.resources.memory.limit");
        if (res.memory.swap) {
            need("memory", "linux.resources.memory.swap");
            // Swap accounting is a boot option (swapaccount=1); without it there is no memsw.
            if (!file_exists(mounts_.at("memory") + "/memory.memsw.limit_in_bytes"))
                throw make_error(ErrorKind::unsupported,
                                 "linux.resources.memory.swap: this kernel does not account "
                                 "swap (no memory.memsw.limit_in_bytes)");
        }
        if (res.cpu.shares) need("cpu", "linux.resources.cpu.shares");
        if (res.cpu.quota) need("cpu", "linux.resources.cpu.quota");
        if (res.cpu.period) need("cpu", "linux.resources.cpu.period");
        if (!res.cpu.cpus.empty()) need("cpuset", "linux.resources.cpu.cpus");
        if (!res.cpu.mems.empty()) need("cpuset", "linux.resources.cpu.mems");
        if (res.pids.limit) need("pids", "linux.resources.pids.limit");
        // The allow-list is always applied: a container must never reach the host's disks.
        need("devices", "linux.resources.devices");
    }

    static void apply_limits(const Dirs& dirs, const Resources& res) {
        std::string memory = dirs.get("memory");
        if (res.memory.limit)
            set_limit("linux.resources.memory.limit", memory, "memory.limit_in_bytes",
                      std::to_string(*res.memory.limit));
        // After the memory limit: the kernel keeps limit_in_bytes <= memsw.limit_in_bytes.
        if (res.memory.swap)
            set_limit("linux.resources.memory.swap", memory, "memory.memsw.limit_in_bytes",
                      std::to_string(*res.memory.swap));

        std::string cpu = dirs.get("cpu");
        if (res.cpu.shares && *res.cpu.shares != 0)
            set_limit("linux.resources.cpu.shares", cpu, "cpu.shares",
                      std::to_string(*res.cpu.shares));
        // The period first: the quota is checked against it.
        if (res.cpu.period && *res.cpu.period != 0)
            set_limit("linux.resources.cpu.period", cpu, "cpu.cfs_period_us",
                      std::to_string(*res.cpu.period));
        if (res.cpu.quota && *res.cpu.quota != 0)
            set_limit("linux.resources.cpu.quota", cpu, "cpu.cfs_quota_us",
                      std::to_string(*res.cpu.quota < 0 ? -1 : *res.cpu.quota));

        std::string cpuset = dirs.get("cpuset");
        if (!res.cpu.cpus.empty())
            set_limit("linux.resources.cpu.cpus", cpuset, "cpuset.cpus", res.cpu.cpus);
        if (!res.cpu.mems.empty())
            set_limit("linux.resources.cpu.mems", cpuset, "cpuset.mems", res.cpu.mems);

        if (res.pids.limit && *res.pids.limit != 0)
            set_limit("linux.resources.pids.limit", dirs.get("pids"), "pids.max",
                      *res.pids.limit < 0 ? "max" : std::to_string(*res.pids.limit));
    }

    // "a" to devices.deny empties the list and makes deny the default; then each rule in
    // order, so that a later rule overrides an earlier one as OCI says.
    static void apply_devices(const std::string& dir, const std::vector<DeviceRule>& rules) {
        set_limit("linux.resources.devices", dir, "devices.deny", "a");
        for (size_t i = 0; i < rules.size(); ++i) {
            const char* file = rules[i].allow ? "devices.allow" : "devices.deny";
            for (const auto& text : v1_device_rule_texts(rules[i]))
                set_limit("linux.resources.devices", dir, file, text);
        }
    }

    std::string root_;
    std::string parent_;
    std::shared_ptr<const Fixture> fixture_;
    std::map<std::string, std::string> mounts_;  // hierarchy name -> directory to use
    std::vector<std::string> distinct_;          // hierarchy names with a directory of their own
};

}  // namespace

std::unique_ptr<CgroupManager> make_cgroup_v1(const std::string& root, const std::string& parent,
                                              BackendOptions options) {
    return std::make_unique<CgroupV1Manager>(root, parent, std::move(options));
}

}  // namespace truman::cgroup
