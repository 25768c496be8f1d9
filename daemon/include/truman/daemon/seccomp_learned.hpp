// The system calls a container in seccomp learning mode was seen to make: one set per
// container, kept by its monitor in seccomp-learned.json in the container's directory
// (replaced atomically at each new call, so it survives trumand and monitor crashes alike),
// and read by the service to build a profile (GET /v1/containers/{id}/seccomp/profile).
#pragma once

#include <compare>
#include <set>
#include <string>

namespace truman::daemon {

struct LearnedSyscall {
    std::string name;  // libseccomp's name: "openat"
    std::string arch;  // libseccomp's architecture name: "x86_64"

    auto operator<=>(const LearnedSyscall&) const = default;
};

using LearnedSyscalls = std::set<LearnedSyscall>;

// {"syscalls":[{"name":"openat","arch":"x86_64"},...]}, sorted.
std::string learned_syscalls_json(const LearnedSyscalls& seen);

// What learned_syscalls_json wrote; an empty set if path does not exist. Throws truman::Error
// (system for an unreadable file, invalid for one that is not ours).
LearnedSyscalls read_learned_syscalls(const std::string& path);

}  // namespace truman::daemon
