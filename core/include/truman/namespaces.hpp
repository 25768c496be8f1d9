// Linux namespaces: the one table of their OCI names, clone flags and /proc/<pid>/ns entries,
// and the rules a spec's namespaces must follow (checked by validate()).
#pragma once

#include <optional>
#include <string>

namespace truman {

enum class NamespaceType { pid, network, mount, ipc, uts, user, cgroup };

const char* to_string(NamespaceType type) noexcept;  // OCI names: "pid", "network", ...
std::optional<NamespaceType> namespace_type_from_string(const std::string& name);
int clone_flag(NamespaceType type) noexcept;            // CLONE_NEWPID, ...
const char* proc_ns_name(NamespaceType type) noexcept;  // "pid", "net", "mnt", ...

struct ContainerSpec;

// linux.namespaces (each type once, paths absolute), the names that need a uts namespace of
// the container's own (hostname, domainname) and the user namespace's id mappings. Throws
// truman::Error (invalid) naming the OCI field.
void validate_namespaces(const ContainerSpec& spec);

// An RFC 1123 host name as sethostname(2) users expect to read it back; throws naming field.
void validate_hostname(const std::string& name, const std::string& field);

}  // namespace truman
