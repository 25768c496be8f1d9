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
    std::string data;
};
MountOptions parse_mount_options(const std::vector<std::string>& options);

}  // namespace truman
