// The parent's half of a process that a child confines itself by (process_plan.hpp): made
// once here for the container's init and for every exec, so both get the same confinement
// from the same spec fields.

#include "process_plan.hpp"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "truman/capabilities.hpp"
#include "truman/rlimits.hpp"

namespace truman::detail {

namespace {

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
    for (const auto& e : env)
        if (e.compare(0, key.size() + 1, key + "=") == 0) return e.substr(key.size() + 1);
    return "";
}

}  // namespace

std::vector<std::string> exec_candidates(const std::vector<std::string>& args,
                                         const std::vector<std::string>& env) {
    const std::string& name = args.at(0);
    if (name.find('/') != std::string::npos) return {name};
    std::string path = env_value(env, "PATH");
    if (path.empty()) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t end = path.find(':', start);
        std::string dir = path.substr(start, end == std::string::npos ? end : end - start);
        out.push_back((dir.empty() ? std::string(".") : dir) + "/" + name);
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return out;
}

void prepare_process(PreparedProcess& out, const ProcessInputs& in) {
    const Process& process = in.process;
    ProcessPlan& plan = out.plan;

    for (const auto& r : rlimit_plan(process.rlimits)) {
        out.rlimit_resources.push_back(r.resource);
        out.rlimit_values.push_back(r.value);
    }
    plan.rlimit_resources = out.rlimit_resources.data();
    plan.rlimit_values = out.rlimit_values.data();
    plan.nrlimits = out.rlimit_values.size();

    CapabilityMasks caps = capability_masks(process.capabilities);
    plan.cap_bounding = caps.bounding;
    plan.cap_effective = caps.effective;
    plan.cap_permitted = caps.permitted;
    plan.cap_inheritable = caps.inheritable;
    plan.cap_ambient = caps.ambient;
    plan.last_cap = last_capability();

    plan.uid = process.user.uid;
    plan.gid = process.user.gid;
    plan.may_setgroups = in.may_setgroups;
    out.groups.assign(process.user.additional_gids.begin(), process.user.additional_gids.end());
    if (!plan.may_setgroups && !out.groups.empty())
        throw invalid_argument(in.groups_field,
                               "additional groups are not possible in a user namespace "
                               "whose setgroups is denied (rootless)");
    plan.groups = out.groups.data();
    plan.ngroups = out.groups.size();
    plan.umask = process.user.umask ? static_cast<int>(*process.user.umask) : -1;
    out.cwd = process.cwd;
    plan.cwd = out.cwd.c_str();
    plan.no_new_privs = process.no_new_privileges;

    const Linux& linux_spec = in.container_linux;
    if (!linux_spec.seccomp_disabled) {
        static const Seccomp default_profile = default_seccomp_profile();
        out.seccomp = cached_seccomp(linux_spec.seccomp ? *linux_spec.seccomp : default_profile,
                                     in.seccomp_cache_dir, linux_spec.seccomp_learn);
        if (out.seccomp->filter.size() > 0xffff)
            throw invalid_argument("linux.seccomp", "the compiled filter is too long");
        plan.seccomp_filter = out.seccomp->filter.data();
        plan.seccomp_len = static_cast<unsigned short>(out.seccomp->filter.size());
        plan.seccomp_flags = out.seccomp->needs_listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
    }

    // argv, envp and the exec candidates: one vector of strings reserved up front so the
    // pointers taken below stay valid.
    auto candidates = exec_candidates(process.args, process.env);
    out.strings.reserve(process.args.size() + process.env.size() + candidates.size());
    for (const auto& a : process.args) out.argv.push_back(out.strings.emplace_back(a).data());
    out.argv.push_back(nullptr);
    for (const auto& e : process.env) out.envp.push_back(out.strings.emplace_back(e).data());
    out.envp.push_back(nullptr);
    for (const auto& c : candidates) out.exec_paths.push_back(out.strings.emplace_back(c).c_str());
    plan.argv = out.argv.data();
    plan.envp = out.envp.data();
    plan.exec_paths = out.exec_paths.data();
    plan.nexec_paths = out.exec_paths.size();

    plan.terminal = in.terminal;
    for (int slot = 0; slot < 3; ++slot) {
        if (in.stdio[slot] >= 0 || in.terminal) {
            plan.stdio[slot] = in.stdio[slot];
            continue;
        }
        if (!out.dev_null) {
            out.dev_null.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
            if (!out.dev_null) throw system_error("open /dev/null");
        }
        plan.stdio[slot] = out.dev_null.get();
    }
}

void wait_answering_seccomp(int pidfd, int seccomp_fd, const std::function<void()>& on_seccomp,
                            const std::string& what) {
    for (;;) {
        struct pollfd fds[2] = {{pidfd, POLLIN, 0}, {seccomp_fd, POLLIN, 0}};
        int n = ::poll(fds, seccomp_fd >= 0 ? 2 : 1, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw system_error("poll " + what);
        if (seccomp_fd >= 0 && (fds[1].revents & POLLIN)) on_seccomp();
        if (fds[0].revents & POLLIN) return;
    }
}

bool read_report(int fd, ChildReport& r, const char* who) {
    for (;;) {
        ssize_t n = ::recv(fd, &r, sizeof r, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw system_error(std::string("read the report of ") + who);
        if (n == 0) return false;
        if (n != sizeof r) throw system_error(std::string("short report from ") + who, EPROTO);
        return true;
    }
}

void send_byte(int fd, const char* what) {
    char c = 1;
    if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) throw system_error(what);
}

std::optional<Error> process_error(const ChildReport& r, const std::string& cwd,
                                   const std::string& program) {
    std::string what = to_string(r.step);
    switch (r.step) {
        case ChildStep::chdir_cwd:
            what += " " + cwd;
            if (r.err == ELOOP)
                what += " (a link in it loops or leads through a magic link such as /proc/self/fd)";
            return make_error(ErrorKind::invalid, what, r.err);
        case ChildStep::verify_cwd:
            // Not a failed call but a refusal: say what was refused, not strerror(EXDEV).
            return Error(ErrorKind::invalid, r.err,
                         "cwd " + cwd + " is not inside the container's root");
        case ChildStep::drop_bounding_capability:
        case ChildStep::raise_ambient_capability:
            return make_error(ErrorKind::system, what + " " + capability_name(r.value), r.err);
        case ChildStep::execve: {
            bool callers = r.err == ENOENT || r.err == EACCES || r.err == ENOTDIR ||
                           r.err == ENOEXEC || r.err == ELOOP;
            return make_error(callers ? ErrorKind::invalid : ErrorKind::system,
                              what + " " + program, r.err);
        }
        default:
            return std::nullopt;
    }
}

}  // namespace truman::detail
