// network connect/disconnect: the lease first (recorded atomically, so a crash leaves an
// address remove frees, never a wired one nobody knows), then the veth, made by trumand in
// the container's namespace from the thread serving the request (rtnetlink.hpp switches
// that one thread's namespace for the socket and back). No process is forked.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "truman/daemon/atomic_file.hpp"
#include "truman/error.hpp"
#include "truman/network.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

namespace {

struct Target {
    std::string id, name;
    pid_t pid = 0;  // 0: no live init
};

Target target_of(ContainerRegistry& registry, const std::string& ref) {
    auto locked = registry.lock();
    Entry& entry = locked.find(ref);
    Target t{entry.meta.id, entry.meta.name, 0};
    if (entry.stored.state.status != Status::exited) t.pid = entry.stored.state.pid;
    return t;
}

bool has_own_netns(const ContainerSpec& spec) {
    return std::any_of(
        spec.linux.namespaces.begin(), spec.linux.namespaces.end(),
        [](const Namespace& ns) { return ns.type == NamespaceType::network && ns.path.empty(); });
}

}  // namespace

void connect_network(ContainerRegistry& registry, const std::string& network,
                     const NetworkConnectRequest& request) {
    if (request.container.empty()) throw invalid_argument("container", "is required");
    Target t = target_of(registry, request.container);
    if (t.pid <= 0)
        throw Error(ErrorKind::conflict, ESRCH, "container " + t.name + " is not running");
    ContainerSpec spec =
        spec_from_json(nlohmann::json::parse(read_whole_file(registry.paths_of(t.id).config())));
    if (!has_own_netns(spec))
        throw Error(ErrorKind::conflict, EINVAL,
                    "container " + t.name + " has no network namespace of its own");
    if (spec.network.mode == Network::Mode::veth)
        throw Error(ErrorKind::conflict, EINVAL,
                    "container " + t.name + " has a veth wired by hand (network mode veth)");
    BridgePort port = registry.networks().connect(
        t.id, t.name, {network, request.ip, request.aliases, request.ip6});
    try {
        add_bridge_ports(t.pid, {port});
    } catch (...) {
        try {
            registry.networks().disconnect(t.id, network);
        } catch (const std::exception& e) {
            spdlog::error("connect {} to {}: undo its lease: {}", t.name, network, e.what());
        }
        throw;
    }
    spdlog::info("connected container {} to network {} ({})", t.name, network, port.address);
}

void disconnect_network(ContainerRegistry& registry, const std::string& network,
                        const std::string& ref) {
    if (ref.empty()) throw invalid_argument("container", "is required");
    Target t = target_of(registry, ref);
    // The host end first: deleting it takes the container's end along. A stopped container's
    // pair went with its namespace.
    auto endpoints = registry.networks().endpoints_of(t.id);
    bool on = std::any_of(endpoints.begin(), endpoints.end(),
                          [&](const ContainerEndpoint& e) { return e.network == network; });
    if (!on) {
        registry.networks().get(network);  // not_found for an unknown network
        throw Error(ErrorKind::conflict, ENOENT,
                    "container " + t.name + " is not on network " + network);
    }
    for (const auto& e : endpoints)
        if (e.network == network && t.pid > 0)
            delete_link(bridge_port_name(t.id, std::stoul(e.interface.substr(3))));
    registry.networks().disconnect(t.id, network);
    spdlog::info("disconnected container {} from network {}", t.name, network);
}

}  // namespace truman::daemon::verbs
