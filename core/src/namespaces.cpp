// Namespaces: the table of their names and flags, the rules a spec's namespaces follow, and
// run_in_new_pid_namespace (the classic clone() with a stack of our own).
#include "truman/namespaces.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <algorithm>
#include <set>

#include "truman/container.hpp"
#include "truman/error.hpp"
#include "truman/idmap.hpp"
#include "truman/spec.hpp"

namespace truman {

namespace {

// One row per namespace type: its OCI name, its clone flag, its /proc/PID/ns entry.
struct NamespaceInfo {
    NamespaceType type;
    const char* oci_name;
    int clone_flag;
    const char* proc_name;
};
constexpr NamespaceInfo kNamespaces[] = {
    {NamespaceType::pid, "pid", CLONE_NEWPID, "pid"},
    {NamespaceType::network, "network", CLONE_NEWNET, "net"},
    {NamespaceType::mount, "mount", CLONE_NEWNS, "mnt"},
    {NamespaceType::ipc, "ipc", CLONE_NEWIPC, "ipc"},
    {NamespaceType::uts, "uts", CLONE_NEWUTS, "uts"},
    {NamespaceType::user, "user", CLONE_NEWUSER, "user"},
    {NamespaceType::cgroup, "cgroup", CLONE_NEWCGROUP, "cgroup"},
};

const NamespaceInfo* namespace_info(NamespaceType type) noexcept {
    for (const auto& info : kNamespaces)
        if (info.type == type) return &info;
    return nullptr;
}

const Namespace* find_namespace(const std::vector<Namespace>& namespaces, NamespaceType type) {
    auto it = std::find_if(namespaces.begin(), namespaces.end(),
                           [type](const Namespace& ns) { return ns.type == type; });
    return it == namespaces.end() ? nullptr : &*it;
}

void validate_user_namespace(const Linux& l) {
    const Namespace* user_ns = find_namespace(l.namespaces, NamespaceType::user);
    bool has_maps = !l.uid_mappings.empty() || !l.gid_mappings.empty();
    const char* given = l.uid_mappings.empty() ? "linux.gidMappings" : "linux.uidMappings";
    if (user_ns == nullptr) {
        if (has_maps) throw invalid_argument(given, "needs a user namespace in linux.namespaces");
        return;
    }
    if (!user_ns->path.empty()) {
        // A joined user namespace already has its maps; they cannot be written twice.
        if (has_maps)
            throw invalid_argument(given, "must be empty when joining a user namespace by path");
        return;
    }
    if (l.uid_mappings.empty()) {
        throw invalid_argument("linux.uidMappings", "a new user namespace needs uid mappings");
    }
    if (l.gid_mappings.empty()) {
        throw invalid_argument("linux.gidMappings", "a new user namespace needs gid mappings");
    }
    validate_id_mappings(l.uid_mappings, "linux.uidMappings");
    validate_id_mappings(l.gid_mappings, "linux.gidMappings");
}

}  // namespace

const char* to_string(NamespaceType type) noexcept {
    const NamespaceInfo* info = namespace_info(type);
    return info ? info->oci_name : "unknown";
}

std::optional<NamespaceType> namespace_type_from_string(const std::string& name) {
    for (const auto& info : kNamespaces)
        if (name == info.oci_name) return info.type;
    return std::nullopt;
}

int clone_flag(NamespaceType type) noexcept {
    const NamespaceInfo* info = namespace_info(type);
    return info ? info->clone_flag : 0;
}

const char* proc_ns_name(NamespaceType type) noexcept {
    const NamespaceInfo* info = namespace_info(type);
    return info ? info->proc_name : "unknown";
}

void validate_hostname(const std::string& name, const std::string& field) {
    if (name.size() > 64) throw invalid_argument(field, "must be at most 64 characters");
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.';
        if (!ok) {
            throw invalid_argument(field, "invalid character '" + std::string(1, c) +
                                              "' (letters, digits, '-' and '.' only)");
        }
    }
    if (name.front() == '-' || name.front() == '.' || name.back() == '-') {
        throw invalid_argument(field, "must not start with '-' or '.' or end with '-'");
    }
}

void validate_namespaces(const ContainerSpec& spec) {
    const auto& namespaces = spec.linux.namespaces;
    std::set<NamespaceType> seen;
    for (size_t i = 0; i < namespaces.size(); ++i) {
        const Namespace& ns = namespaces[i];
        std::string item = index_path("linux.namespaces", i);
        if (!seen.insert(ns.type).second) {
            throw invalid_argument(item + ".type", std::string("duplicate namespace type \"") +
                                                       to_string(ns.type) + "\"");
        }
        if (!ns.path.empty() && ns.path[0] != '/') {
            throw invalid_argument(item + ".path", "must be an absolute path");
        }
    }
    // OCI: a namespace joined by path is already set up, and the runtime must refuse to
    // configure it again; a host-wide uts namespace would rename the host.
    const Namespace* uts = find_namespace(namespaces, NamespaceType::uts);
    const std::pair<const std::string*, const char*> names[] = {{&spec.hostname, "hostname"},
                                                                {&spec.domainname, "domainname"}};
    for (const auto& [name, field] : names) {
        if (name->empty()) continue;
        if (uts == nullptr) {
            throw invalid_argument(field, "needs a uts namespace (it would rename the host)");
        }
        if (!uts->path.empty()) {
            throw invalid_argument(field, "cannot be set in a uts namespace joined by path");
        }
        validate_hostname(*name, field);
    }
    validate_user_namespace(spec.linux);
}

namespace {

int trampoline(void* arg) {
    auto* fn = static_cast<const std::function<int()>*>(arg);
    // A fresh /proc in the new mount namespace, so the callable's /proc shows its own PID
    // namespace; "/" becomes private first so the mount does not reach the host.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 125;
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        return 126;
    return (*fn)();
}

}  // namespace

int run_in_new_pid_namespace(const std::function<int()>& fn, int extra_clone_flags) {
    constexpr size_t kStackSize = 1 << 20;
    constexpr size_t kGuard = 1 << 12;
    void* stack = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) throw system_error("mmap child stack");
    // The lowest page is a guard: an overflow faults instead of writing into other memory.
    ::mprotect(stack, kGuard, PROT_NONE);
    // Stacks grow down on every architecture Linux runs containers on: clone() takes the
    // *top* of the stack, not the address mmap returned.
    char* top = static_cast<char*>(stack) + kStackSize;
    pid_t pid = ::clone(trampoline, top, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD | extra_clone_flags,
                        const_cast<std::function<int()>*>(&fn));
    if (pid < 0) {
        int err = errno;
        ::munmap(stack, kStackSize);
        throw system_error("clone(CLONE_NEWPID)", err);
    }
    int status = 0;
    pid_t r;
    do {
        r = ::waitpid(pid, &status, __WALL);
    } while (r < 0 && errno == EINTR);
    ::munmap(stack, kStackSize);
    if (r < 0) throw system_error("waitpid " + std::to_string(pid));
    // The callable's status, never the PID.
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace truman
