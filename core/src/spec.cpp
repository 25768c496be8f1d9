// ContainerSpec's defaults and validate(). Reading and writing config.json live in
// spec_from_json.cpp and spec_to_json.cpp; each rule lives in its concern's file, and
// validate() only asks each concern in turn, in the order of the spec's sections.
#include "truman/spec.hpp"

#include <algorithm>

#include "truman/capabilities.hpp"
#include "truman/cgroups.hpp"
#include "truman/devices.hpp"
#include "truman/error.hpp"
#include "truman/mounts.hpp"
#include "truman/namespaces.hpp"
#include "truman/network.hpp"
#include "truman/process.hpp"
#include "truman/rlimits.hpp"
#include "truman/seccomp.hpp"

namespace truman {

bool ContainerSpec::has_namespace(NamespaceType type) const {
    return std::any_of(linux.namespaces.begin(), linux.namespaces.end(),
                       [type](const Namespace& ns) { return ns.type == type; });
}

void validate(const ContainerSpec& spec) {
    if (spec.oci_version.rfind("1.", 0) != 0) {
        throw unsupported_argument("ociVersion",
                                   "\"" + spec.oci_version + "\" is not supported (1.x only)");
    }
    validate_mounts(spec);  // root.path first: nothing else means much without a root
    validate_process(spec.process);
    validate_capabilities(spec.process.capabilities);
    validate_rlimits(spec.process.rlimits);
    validate_namespaces(spec);
    validate_devices(spec.linux);
    validate_resources(spec.linux.resources);
    validate_seccomp(spec.linux);
    validate_network(spec);
}

ContainerSpec default_spec(const std::string& rootfs, std::vector<std::string> args) {
    ContainerSpec spec;
    spec.root.path = rootfs;
    spec.process.args = std::move(args);
    spec.process.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    spec.process.cwd = "/";
    spec.hostname = "truman";
    // No user namespace, like rootful Docker and podman: root in the container is root on
    // the host, confined by capabilities, seccomp and the masked paths.
    spec.linux.namespaces = {{NamespaceType::pid, ""},   {NamespaceType::network, ""},
                             {NamespaceType::mount, ""}, {NamespaceType::ipc, ""},
                             {NamespaceType::uts, ""},   {NamespaceType::cgroup, ""}};
    spec.network.mode = Network::Mode::loopback;
    return spec;
}

}  // namespace truman
