// A container's process from its image: the config's Entrypoint, Cmd, Env, WorkingDir and
// User as defaults under what the create request chose (Docker's rules), and users and
// groups by name through the image's own /etc/passwd and /etc/group.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "truman/daemon/images/image.hpp"
#include "truman/daemon/service.hpp"
#include "truman/spec.hpp"

namespace truman::daemon::images {

// The file at path (relative to the root, e.g. "etc/passwd") in a root made of layers, top
// first, as overlayfs would show it: the top-most layer that has it (a whiteout there hides
// it). Each lookup stays inside its layer (RESOLVE_IN_ROOT, no magic links), so a layer's
// symlink can never point the daemon at a host file. nullopt if absent; at most max_bytes.
std::optional<std::string> read_layered_file(const std::vector<std::string>& layers_top_first,
                                             const std::string& path,
                                             size_t max_bytes = size_t{1} << 20);

// "name", "uid", "name:group", "uid:gid", "name:gid"...: the ids, the primary group from
// passwd when none is given, and the supplementary groups that list the user in /etc/group.
// Throws truman::Error (invalid, field "user") for bad syntax or an unknown name.
User resolve_user(const std::string& text, const std::vector<std::string>& layers_top_first);

// spec.process of request with the image's defaults applied (see CreateRequest). Throws
// truman::Error (invalid) when nothing is left to run, or for a user it cannot resolve.
Process process_from_image(const ImageConfig& config, const CreateRequest& request,
                           const std::vector<std::string>& layers_top_first);

}  // namespace truman::daemon::images
