#include "mount_plan.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>

#include "truman/error.hpp"
#include "truman/mounts.hpp"

namespace truman::detail {

namespace {

struct DefaultDevice {
    const char* name;
    unsigned major, minor;
};
constexpr DefaultDevice kDefaultDevices[] = {
    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

// What a default-shaped mount looks like before it is merged with the spec's mounts.
std::vector<Mount> default_mounts(const ContainerSpec& spec, bool user_namespace) {
    std::vector<Mount> m;
    // A user namespace may mount proc only for a PID namespace it owns; sharing the host's
    // PID namespace, it gets the host's /proc bound instead (what was asked for: host PIDs).
    if (user_namespace && !spec.has_namespace(NamespaceType::pid))
        m.push_back({"/proc", "bind", "/proc", {"rbind", "nosuid", "noexec", "nodev"}});
    else
        m.push_back({"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}});
    m.insert(
        m.end(),
        {
            {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
            {"/dev/pts",
             "devpts",
             "devpts",
             {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
            {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
        });
    // mqueue belongs to the IPC namespace: a user namespace may mount only its own.
    if (!user_namespace || spec.has_namespace(NamespaceType::ipc))
        m.push_back({"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}});
    // sysfs may only be mounted in a user namespace that owns the network namespace;
    // otherwise bind the host's read-only, as runc does.
    if (user_namespace && !spec.has_namespace(NamespaceType::network))
        m.push_back({"/sys", "bind", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro"}});
    else
        m.push_back({"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}});
    return m;
}

// The spec's mounts take the place of a default with the same destination (an OCI bundle's
// config.json lists /proc, /dev, ... itself); the rest follow in the spec's order.
std::vector<Mount> merged_mounts(const ContainerSpec& spec, bool user_namespace) {
    std::vector<Mount> out;
    std::vector<bool> used(spec.mounts.size(), false);
    for (auto& d : default_mounts(spec, user_namespace)) {
        bool replaced = false;
        for (size_t i = 0; i < spec.mounts.size(); ++i)
            if (!used[i] && spec.mounts[i].destination == d.destination) {
                out.push_back(spec.mounts[i]);
                used[i] = replaced = true;
                break;
            }
        if (!replaced) out.push_back(d);
    }
    for (size_t i = 0; i < spec.mounts.size(); ++i)
        if (!used[i]) out.push_back(spec.mounts[i]);
    return out;
}

// Container paths become paths relative to the root ("dev/pts"), lexically normalised, with
// ".." that would climb above the root dropped: the child resolves them beneath the root
// when it uses them (child.hpp), so the parent never looks at the image's files.
std::string relative_in_root(const std::string& container_path) {
    std::vector<std::string> parts;
    for (const auto& part : std::filesystem::path(container_path)) {
        std::string p = part.string();
        if (p.empty() || p == "/" || p == ".") continue;
        if (p == "..") {
            if (!parts.empty()) parts.pop_back();
            continue;
        }
        parts.push_back(p);
    }
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
    return out.empty() ? "." : out;
}

class Builder {
  public:
    explicit Builder(MountPlan& plan) : plan_(plan) {}

    FsOp& add(FsOpKind kind, const std::string& container_target, std::string description) {
        FsOp op{};
        op.kind = kind;
        std::string target = relative_in_root(container_target);
        op.target = plan_.keep(target);
        auto slash = target.rfind('/');
        op.parent = plan_.keep(slash == std::string::npos ? "." : target.substr(0, slash));
        op.name = plan_.keep(slash == std::string::npos ? target : target.substr(slash + 1));
        plan_.ops.push_back(op);
        plan_.descriptions.push_back(std::move(description));
        return plan_.ops.back();
    }

    // mkdir -p, one op per component; existing ones are fine.
    void mkdirs(const std::string& container_dir) {
        std::string rel = relative_in_root(container_dir);
        if (rel == ".") return;
        std::string p;
        for (auto& part : std::filesystem::path(rel)) {
            p += (p.empty() ? "" : "/") + part.string();
            FsOp& op = add(FsOpKind::mkdir, p, "mkdir /" + p);
            op.mode = 0755;
        }
    }

    void mount(const Mount& m) {
        MountOptions o = parse_mount_options(m.options);
        bool bind = o.bind || m.type == "bind";
        const std::string& dest = m.destination;
        if (bind) {
            struct stat st;
            if (::stat(m.source.c_str(), &st) != 0)
                throw make_error(errno == ENOENT ? ErrorKind::not_found : ErrorKind::system,
                                 "bind mount source " + m.source + " for " + dest, errno);
            if (o.nofollow && S_ISDIR(st.st_mode))
                throw invalid_argument("mount " + dest, "nofollow needs a file to bind mount");
            if (o.nofollow) {
                mkdirs(std::filesystem::path(dest).parent_path());
                add(FsOpKind::replace_file, dest, "create mount point " + dest);
            } else if (S_ISDIR(st.st_mode)) {
                mkdirs(dest);
            } else {
                mkdirs(std::filesystem::path(dest).parent_path());
                add(FsOpKind::create_file, dest, "create mount point " + dest);
            }
            FsOp& op = add(FsOpKind::mount, dest, "bind mount " + m.source + " on " + dest);
            op.source = plan_.keep(m.source);
            op.flags = MS_BIND | (o.recursive ? MS_REC : 0);
            // A bind mount ignores every flag but MS_REC: read-only and friends need a remount.
            if (o.flags) {
                FsOp& re = add(FsOpKind::bind_remount, dest, "remount " + dest);
                re.flags = o.flags;
            }
        } else {
            mkdirs(dest);
            FsOp& op = add(FsOpKind::mount, dest, "mount " + m.type + " on " + dest);
            op.source = plan_.keep(m.source.empty() ? m.type : m.source);
            op.fstype = plan_.keep(m.type);
            op.flags = o.flags;
            op.data = o.data.empty() ? nullptr : plan_.keep(o.data);
        }
        if (o.propagation) {
            FsOp& op = add(FsOpKind::mount, dest, "set propagation of " + dest);
            op.flags = o.propagation;
        }
    }

    void device(const std::string& path, char type, unsigned major, unsigned minor, uint32_t mode,
                uint32_t uid, uint32_t gid, bool user_namespace) {
        if (user_namespace) {
            add(FsOpKind::create_file, path, "create mount point " + path);
            FsOp& op = add(FsOpKind::mount, path, "bind mount " + path + " from the host");
            op.source = plan_.keep(path);
            op.flags = MS_BIND;
            return;
        }
        mode_t kind = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
        FsOp& op = add(FsOpKind::mknod, path, "mknod " + path);
        op.mode = kind | (mode & 07777);
        op.dev = makedev(major, minor);
        op.uid = uid;
        op.gid = gid;
    }

    void symlink(const std::string& target, const std::string& link) {
        FsOp& op = add(FsOpKind::symlink, link, "symlink " + link + " -> " + target);
        op.source = plan_.keep(target);
    }

  private:
    MountPlan& plan_;
};

}  // namespace

const char* MountPlan::keep(std::string s) {
    strings.push_back(std::move(s));
    return strings.back().c_str();
}

const std::vector<std::string>& default_masked_paths() {
    static const std::vector<std::string> paths = {
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    };
    return paths;
}

const std::vector<std::string>& default_readonly_paths() {
    static const std::vector<std::string> paths = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    };
    return paths;
}

MountPlan build_mount_plan(const ContainerSpec& spec, bool user_namespace) {
    MountPlan plan;
    plan.rootfs = std::filesystem::path(spec.root.path).lexically_normal().string();
    if (plan.rootfs.size() > 1 && plan.rootfs.back() == '/') plan.rootfs.pop_back();
    if (spec.root.overlay) {
        const Overlay& o = *spec.root.overlay;
        for (auto* dir : {&o.lower, &o.upper, &o.work, &o.layer_dir}) {
            // With a layerdir, ':' is what separates the layers' names in lower.
            bool names = dir == &o.lower && !o.layer_dir.empty();
            if (dir->find_first_of(names ? "," : ",:") != std::string::npos)
                throw invalid_argument("root.overlay",
                                       "directory names must not contain ',' or ':'");
        }
        plan.overlay_data = "lowerdir=" + o.lower + ",upperdir=" + o.upper + ",workdir=" + o.work;
        // mount(2) copies one page of data: what does not fit is cut off, not an error.
        if (plan.overlay_data.size() >= kMountDataMax)
            throw invalid_argument("root.overlay", "the layers' names and directories take " +
                                                       std::to_string(plan.overlay_data.size()) +
                                                       " bytes of mount data, more than " +
                                                       std::to_string(kMountDataMax - 1));
        plan.overlay_cwd = o.layer_dir;
    }
    plan.root_propagation = propagation_flags(spec.linux.rootfs_propagation);

    Builder b(plan);
    for (const Mount& m : merged_mounts(spec, user_namespace)) {
        b.mount(m);
        if (m.destination == "/dev") {
            // The nodes every program expects, and the links to /proc that glibc and shells use.
            for (auto& d : kDefaultDevices)
                b.device(std::string("/dev/") + d.name, 'c', d.major, d.minor, 0666, 0, 0,
                         user_namespace);
            b.symlink("/proc/self/fd", "/dev/fd");
            b.symlink("/proc/self/fd/0", "/dev/stdin");
            b.symlink("/proc/self/fd/1", "/dev/stdout");
            b.symlink("/proc/self/fd/2", "/dev/stderr");
        }
        if (m.destination == "/dev/pts") b.symlink("pts/ptmx", "/dev/ptmx");
    }
    for (const Device& d : spec.linux.devices) {
        b.mkdirs(std::filesystem::path(d.path).parent_path());
        b.device(d.path, d.type == 'u' ? 'c' : d.type, static_cast<unsigned>(d.major),
                 static_cast<unsigned>(d.minor), d.file_mode.value_or(0666), d.uid.value_or(0),
                 d.gid.value_or(0), user_namespace);
    }
    // Masked and read-only paths come last, over everything mounted above. They are optional:
    // a kernel without /proc/timer_stats simply has nothing to hide there.
    for (auto& p : spec.linux.masked_paths.value_or(default_masked_paths())) {
        FsOp& op = b.add(FsOpKind::mask, p, "mask " + p);
        op.optional = true;
        op.source = "dev/null";  // the container's own, resolved beneath the root
    }
    for (auto& p : spec.linux.readonly_paths.value_or(default_readonly_paths())) {
        FsOp& op = b.add(FsOpKind::make_readonly, p, "make " + p + " read-only");
        op.optional = true;
    }
    return plan;
}

}  // namespace truman::detail
