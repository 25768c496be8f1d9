// The network half of the service: bridge networks with an IPv4 subnet, and the addresses
// their containers hold (IPAM). Like service.hpp it knows nothing of HTTP.
//
// The model a container create sees (CreateRequest::networks, service.hpp):
//   - no network namespace of its own: the host's network;
//   - spec.network none/loopback/veth: today's modes, wired by the monitor, no IPAM;
//   - one or more named networks: a veth per network, its host end on the network's bridge,
//     an address from the network's subnet (or the one asked for), the default route via the
//     first network's gateway;
//   - nothing asked: the daemon's default network (ServiceOptions::default_network) when it
//     has one, else loopback only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace truman::daemon {

struct NetworkCreateRequest {
    std::string name;     // the container name rule (container_name.hpp)
    std::string subnet;   // IPv4 CIDR with no host bits, e.g. "10.89.3.0/24"; "" = from the pool
    std::string gateway;  // an address in subnet; "" = the subnet's first address
    std::string bridge;   // the host bridge's name; "" = generated ("tmbr" + id)
    bool internal = false;
    // Dual stack: an IPv6 subnet too. subnet6 is an IPv6 CIDR with no host bits, e.g.
    // "fd00:89::/64"; "" with ipv6 = a /64 from the IPv6 pool (fd00::/8), "" without = none.
    // gateway6: an address in subnet6; "" = its first address. ipv6 false with a subnet6 given
    // is a contradiction (invalid).
    std::optional<bool> ipv6{};
    std::string subnet6{};
    std::string gateway6{};
    std::map<std::string, std::string> labels;
};

struct NetworkEndpoint {
    std::string container_id;
    std::string container_name;
    std::string address;     // without the prefix, e.g. "10.89.3.2"
    std::string address6{};  // dual stack: e.g. "fd00::2" ("" = none)
};

struct NetworkInfo {
    std::string id;  // 64 hex characters
    std::string name;
    std::string bridge;
    std::string subnet;
    std::string gateway;
    bool internal = false;
    std::map<std::string, std::string> labels;
    std::string created_at;
    std::vector<NetworkEndpoint> containers;
    std::string subnet6{};  // "" = IPv4 only
    std::string gateway6{};
};

// What a container create asks of one network.
struct NetworkAttachRequest {
    std::string network;                 // a network's name
    std::string ip;                      // "" = the next free address
    std::vector<std::string> aliases{};  // more names its peers on this network know it by
    std::string ip6{};                   // dual stack network: "" = the next free IPv6 address
};

// What a create asks of the names its container resolves with (name_files.hpp writes them).
struct NameOptions {
    std::vector<std::string> dns;          // nameserver addresses; empty: the host's
    std::vector<std::string> dns_search;   // search domains; empty: the host's
    std::vector<std::string> dns_options;  // resolv.conf options ("ndots:2"); empty: the host's
    std::vector<std::string> extra_hosts;  // "NAME:IP" ("db:10.0.0.5", "v6:2001:db8::1")

    bool operator==(const NameOptions&) const = default;
};

// POST /v1/networks/{name}/connect.
struct NetworkConnectRequest {
    std::string container;  // id, unique id prefix or name
    std::string ip;         // "" = the next free address
    std::vector<std::string> aliases{};
    std::string ip6{};  // as NetworkAttachRequest's
};

// A container's place on one network, as inspect shows it.
struct ContainerEndpoint {
    std::string network;
    std::string interface;  // inside the container, "eth0", "eth1", ...
    std::string address;    // CIDR, e.g. "10.89.3.2/24"
    std::string gateway;
    std::string address6{};  // dual stack: CIDR, e.g. "fd00::2/64" ("" = none)
    std::string gateway6{};
};

// A published port or range of ports (ports.hpp has the rules): host_ip:host_port..end on the
// host to container_port..end of the container's first network. A create gives the *_end
// fields 0 for a single port and host_port 0 for "any free port"; inspect shows them filled
// in (host_ip "0.0.0.0" for every address, the port the daemon chose).
// host_ip "0.0.0.0" is every address of the host, IPv6 ones too when the network is dual
// stack; "::" every IPv6 address, another IPv6 address that one (dual stack networks only).
struct PortMapping {
    std::string host_ip;  // "" = every address of the host
    uint32_t host_port = 0;
    uint32_t host_port_end = 0;
    uint32_t container_port = 0;
    uint32_t container_port_end = 0;
    std::string proto;  // "tcp" (when "") or "udp"
    bool operator==(const PortMapping&) const = default;
};

class NetworkService {
  public:
    virtual ~NetworkService() = default;
    // All throw truman::Error: invalid (bad field), conflict (409: name taken, overlapping
    // subnet, in use), not_found.
    virtual NetworkInfo create_network(const NetworkCreateRequest& request) = 0;
    virtual std::vector<NetworkInfo> list_networks() = 0;
    virtual NetworkInfo inspect_network(const std::string& name) = 0;
    virtual void remove_network(const std::string& name) = 0;
    // A container with a live init (created or running; conflict otherwise, or when it is on
    // the network already) gets a veth on the network, wired in its namespace as at create;
    // disconnect takes it away again (conflict when it is not on the network). Both rewrite
    // the hosts files of the container and its peers.
    virtual void connect_network(const std::string& network,
                                 const NetworkConnectRequest& request) = 0;
    virtual void disconnect_network(const std::string& network, const std::string& container) = 0;
};

}  // namespace truman::daemon
