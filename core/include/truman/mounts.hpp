// Mount propagation helpers and the mount-option vocabulary shared by the container's mount
// plan and its callers.
#pragma once

#include <string>
#include <vector>

namespace truman {

enum class Propagation { private_, slave, shared, unbindable };

// mount(NULL, path, NULL, MS_PRIVATE|MS_SLAVE|MS_SHARED|MS_UNBINDABLE [|MS_REC]).
// Throws truman::Error naming the path.
void set_propagation(const std::string& path, Propagation propagation, bool recursive);

// "rslave" -> MS_SLAVE|MS_REC, "" -> 0. Throws invalid for an unknown name.
unsigned long propagation_flags(const std::string& oci_name);

// Split OCI mount options into MS_* flags and the data string for the filesystem
// ("ro,nosuid,size=64m" -> MS_RDONLY|MS_NOSUID, "size=64m").
struct MountOptions {
    unsigned long flags = 0;        // MS_RDONLY, MS_NOSUID, ... (not MS_BIND)
    unsigned long propagation = 0;  // MS_PRIVATE|MS_REC, ...
    bool bind = false;
    bool recursive = false;  // rbind
    // truman's "nofollow": the destination's last component is never followed; a symlink the
    // image has there is replaced by the mount point (a bind mount of a file only).
    bool nofollow = false;
    std::string data;
};
MountOptions parse_mount_options(const std::vector<std::string>& options);

// Does path go through one of procfs's magic links, /proc/<pid|self|thread-self>/... (fd/N,
// cwd, root, exe, ...), or a conventional link to them (/dev/fd, /dev/stdin ...)? Such a
// path names whatever descriptor or directory the process holds at the time, a host one
// included (runc CVE-2024-21626), so a spec may not use one as cwd, mount source or target.
// (The child also refuses magic links met through ordinary symlinks: RESOLVE_NO_MAGICLINKS.)
bool is_magic_link_path(const std::string& path);
// Throws invalid_argument(field, ...) when is_magic_link_path(path).
void check_not_magic_link(const std::string& path, const std::string& field);

// The mount rules validate() asks (core/src/mount_rules.cpp). Each throws truman::Error
// (invalid) naming the field.
//
// Paths truman is given are absolute.
void validate_absolute_path(const std::string& path, const std::string& field);
// Paths where a ".." would climb out of where the path appears to point ("/tmp/../etc" is
// /etc) must not have one either: a traversal attempt or a mistake. A path inside the
// container (a mount destination, a masked path, a device node):
void validate_container_path(const std::string& path, const std::string& field);
// A path on the host (the root, the overlay's directories, a bind mount's source):
void validate_host_path(const std::string& path, const std::string& field);
// (The cwd is only absolute: the child resolves it inside the root, where ".." stops at "/",
// as it does for any path the container itself uses.)

struct ContainerSpec;
// root.path and the overlay's directories, mounts (destinations, a bind mount's source,
// options), linux.maskedPaths, linux.readonlyPaths and linux.rootfsPropagation.
void validate_mounts(const ContainerSpec& spec);

}  // namespace truman
