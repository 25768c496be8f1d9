// cgroup v2: one directory per container, <root>/<parent>/<name>, with the controllers
// enabled from the root down to the parent, and the device allow-list as a BPF program.
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cgroup_backends.hpp"
#include "device_filter.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman::cgroup {

namespace {

constexpr const char* kWantedControllers[] = {"memory", "cpu", "cpuset", "pids"};

class CgroupV2 final : public Cgroup {
  public:
    CgroupV2(std::string dir, Fd fd, std::shared_ptr<const Fixture> fixture)
        : dir_(std::move(dir)), fd_(std::move(fd)), fixture_(std::move(fixture)) {}

    void add_process(pid_t pid) override {
        write_file(dir_ + "/cgroup.procs", std::to_string(pid));
    }

    CgroupStats stats() const override {
        CgroupStats s;
        s.memory_current = read_u64(dir_ + "/memory.current");
        s.memory_peak = read_u64(dir_ + "/memory.peak");  // since Linux 5.19
        s.cpu_usage_usec = read_keyed_u64(dir_ + "/cpu.stat", "usage_usec");
        s.pids_current = read_u64(dir_ + "/pids.current");
        s.oom_kills = read_keyed_u64(dir_ + "/memory.events", "oom_kill");
        return s;
    }

    bool oom_killed() const override {
        return read_keyed_u64(dir_ + "/memory.events", "oom_kill") > 0;
    }

    void kill_all() override {
        std::string procs = dir_ + "/cgroup.procs";
        // cgroup.kill (Linux 5.14) kills every task atomically, forks in flight included.
        if (file_exists(dir_ + "/cgroup.kill")) {
            write_file(dir_ + "/cgroup.kill", "1");
            // The kill is asynchronous: each task leaves cgroup.procs as it exits.
            if (!wait_until_empty(procs, 2000)) expect_empty(procs);
            return;
        }
        bool frozen = file_exists(dir_ + "/cgroup.freeze");
        if (frozen) write_file(dir_ + "/cgroup.freeze", "1");
        for (pid_t pid : read_pids(procs)) ::kill(pid, SIGKILL);
        // Thaw even if nothing was listed: a frozen task never acts on its SIGKILL.
        if (frozen) write_file(dir_ + "/cgroup.freeze", "0");
        kill_until_empty(procs);
    }

    void destroy() override {
        fd_.reset();
        remove_cgroup_dir(dir_, fixture_.get());
    }

    std::string path() const override { return dir_; }
    int dir_fd() const override { return fd_.get(); }

  private:
    std::string dir_;
    Fd fd_;  // for clone3(CLONE_INTO_CGROUP) and the BPF attach
    std::shared_ptr<const Fixture> fixture_;
};

std::set<std::string> split_words(const std::optional<std::string>& text) {
    std::set<std::string> words;
    if (!text) return words;
    std::istringstream in(*text);
    for (std::string word; in >> word;) words.insert(word);
    return words;
}

Fd open_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw system_error("open " + dir);
    return Fd(fd);
}

class CgroupV2Manager final : public CgroupManager {
  public:
    CgroupV2Manager(std::string root, std::string parent, BackendOptions options)
        : root_(std::move(root)), parent_(std::move(parent)), options_(std::move(options)) {
        if (!options_.fixture && filesystem_magic(root_) != CGROUP2_SUPER_MAGIC)
            throw make_error(ErrorKind::unsupported, root_ + " is not a cgroup2 filesystem");
        if (!options_.apply_device_rules) {
            options_.apply_device_rules = [](int fd, const std::vector<DeviceRule>& rules) {
                attach_device_filter(fd, device_filter_program(rules));
            };
        }
        enable_controllers();
    }

    CgroupMode mode() const override { return CgroupMode::v2; }

    std::unique_ptr<Cgroup> create(const std::string& name, const ContainerSpec& spec) override {
        check_name(name);
        const Resources& res = spec.linux.resources;
        validate_resources(res);
        check_available(res);
        std::vector<DeviceRule> rules = device_rules(spec);

        std::string dir = parent_dir() + "/" + name;
        make_cgroup_dir(dir, options_.fixture.get());
        // From here on the new directory is ours: a failure removes it again.
        std::unique_ptr<CgroupV2> cgroup;
        try {
            cgroup = std::make_unique<CgroupV2>(dir, open_dir(dir), options_.fixture);
            apply_limits(dir, res);
            options_.apply_device_rules(cgroup->dir_fd(), rules);
        } catch (...) {
            cgroup.reset();
            remove_and_rethrow({dir}, options_.fixture.get());
        }
        return cgroup;
    }

    std::unique_ptr<Cgroup> open(const std::string& name) override {
        check_name(name);
        std::string dir = parent_dir() + "/" + name;
        int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) return nullptr;
            throw system_error("open " + dir);
        }
        return std::make_unique<CgroupV2>(dir, Fd(fd), options_.fixture);
    }

  private:
    std::string parent_dir() const { return root_ + "/" + parent_; }

    // A controller is usable in a cgroup only if every ancestor lists it in
    // cgroup.subtree_control. Enable the wanted ones the root offers, level by level down to
    // truman's parent. cgroup v2's "no internal processes" rule: a non-root cgroup with
    // controllers enabled for its children may not hold processes itself, so the parent
    // must stay empty (containers live in its children).
    void enable_controllers() {
        auto offered = split_words(read_file_if_exists(root_ + "/cgroup.controllers"));
        for (const char* controller : kWantedControllers) {
            if (!offered.count(controller)) continue;
            // Best effort at the root: a controller the root cannot delegate (e.g. cpu with
            // realtime tasks around) is unavailable, and a limit that needs it fails with
            // unsupported at create time, saying why (and with the errno) it is.
            try {
                write_file(root_ + "/cgroup.subtree_control", std::string("+") + controller);
                enabled_.insert(controller);
            } catch (const Error& e) {
                not_enabled_.emplace(controller, e);
            }
        }
        for (const auto& dir : make_cgroup_dirs(root_, parent_, options_.fixture.get())) {
            for (const auto& controller : enabled_) {
                try {
                    write_file(dir + "/cgroup.subtree_control", "+" + controller);
                } catch (const Error& e) {
                    if (e.err() == EBUSY)
                        throw Error(ErrorKind::conflict, EBUSY,
                                    std::string(e.what()) + " (" + dir +
                                        " holds processes of its own; cgroup v2 lets only "
                                        "leaf cgroups hold processes)");
                    throw;
                }
            }
        }
    }

    void need(const std::string& controller, const std::string& field) const {
        if (enabled_.count(controller)) return;
        auto why = not_enabled_.find(controller);
        controller_missing(field, controller, why == not_enabled_.end() ? nullptr : &why->second);
    }

    void check_available(const Resources& res) const {
        if (res.memory.limit) need("memory", "linux.resources.memory.limit");
        if (res.memory.swap) need("memory", "linux.resources.memory.swap");
        if (res.cpu.shares) need("cpu", "linux.resources.cpu.shares");
        if (res.cpu.quota) need("cpu", "linux.resources.cpu.quota");
        if (res.cpu.period) need("cpu", "linux.resources.cpu.period");
        if (!res.cpu.cpus.empty()) need("cpuset", "linux.resources.cpu.cpus");
        if (!res.cpu.mems.empty()) need("cpuset", "linux.resources.cpu.mems");
        if (res.pids.limit) need("pids", "linux.resources.pids.limit");
    }

    static void apply_limits(const std::string& dir, const Resources& res) {
        const auto& mem = res.memory;
        if (mem.limit)
            set_limit("linux.resources.memory.limit", dir, "memory.max",
                      *mem.limit < 0 ? "max" : std::to_string(*mem.limit));
        // OCI's swap is memory+swap; v2's memory.swap.max is the swap alone.
        if (mem.swap)
            set_limit("linux.resources.memory.swap", dir, "memory.swap.max",
                      *mem.swap < 0 ? "max" : std::to_string(*mem.swap - *mem.limit));

        const auto& cpu = res.cpu;
        if (cpu.shares && *cpu.shares != 0)
            set_limit("linux.resources.cpu.shares", dir, "cpu.weight",
                      std::to_string(cpu_weight_from_shares(*cpu.shares)));
        if ((cpu.quota && *cpu.quota != 0) || (cpu.period && *cpu.period != 0)) {
            std::string quota = cpu.quota && *cpu.quota > 0 ? std::to_string(*cpu.quota) : "max";
            uint64_t period = cpu.period && *cpu.period != 0 ? *cpu.period : 100000;
            set_limit(cpu.quota ? "linux.resources.cpu.quota" : "linux.resources.cpu.period", dir,
                      "cpu.max", quota + " " + std::to_string(period));
        }
        if (!cpu.cpus.empty()) set_limit("linux.resources.cpu.cpus", dir, "cpuset.cpus", cpu.cpus);
        if (!cpu.mems.empty()) set_limit("linux.resources.cpu.mems", dir, "cpuset.mems", cpu.mems);

        if (res.pids.limit && *res.pids.limit != 0)
            set_limit("linux.resources.pids.limit", dir, "pids.max",
                      *res.pids.limit < 0 ? "max" : std::to_string(*res.pids.limit));
    }

    std::string root_;
    std::string parent_;
    BackendOptions options_;
    std::set<std::string> enabled_;
    std::map<std::string, Error> not_enabled_;  // offered, but enabling it failed
};

}  // namespace

std::unique_ptr<CgroupManager> make_cgroup_v2(const std::string& root, const std::string& parent,
                                              BackendOptions options) {
    return std::make_unique<CgroupV2Manager>(root, parent, std::move(options));
}

}  // namespace truman::cgroup
