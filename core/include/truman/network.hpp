// Network namespaces and links through rtnetlink (libnl-route-3).
//
// Moving a link between namespaces or deleting one costs 25-35 ms on this kernel (RCU grace
// periods), creating a veth peer directly inside the target namespace 0.3 ms: so a container's
// pair is made in one RTM_NEWLINK with the peer created in its namespace, and the container's
// end goes away with the namespace instead of being deleted.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "truman/spec.hpp"

namespace truman {

// `ip netns` compatible named namespaces: a netns bind-mounted at <dir>/<name>.
void create_named_netns(const std::string& name, const std::string& dir = "/run/netns");
void delete_named_netns(const std::string& name, const std::string& dir = "/run/netns");
bool named_netns_exists(const std::string& name, const std::string& dir = "/run/netns");

// A plain veth pair, both ends in the caller's namespace.
void create_veth_pair(const std::string& name, const std::string& peer);
// One RTM_NEWLINK: host end `host_name` here, peer created directly inside the network
// namespace of `target_pid` and named `peer_name` there.
void create_veth_into(const std::string& host_name, const std::string& peer_name, pid_t target_pid);
void delete_link(const std::string& name);  // ENODEV is not an error
bool link_exists(const std::string& name);
void set_link_up(const std::string& name);

// Inside the network namespace of pid: bring lo up, and when address is set give `ifname`
// that CIDR address, bring it up and add a default route via gateway (if not empty).
void configure_container_network(pid_t pid, const std::string& ifname, const std::string& address,
                                 const std::string& gateway);

// Set up what spec.network asks for the container whose init is pid (called by the parent
// while the released child sets itself up, before its report). Returns the host-side link
// name ("" if none).
std::string setup_network(pid_t pid, const Network& net, const std::string& container_id);

// Adds ports (mode bridge's, one per network) to the running container whose init is pid, as
// setup_network does at create: network connect. All or nothing.
void add_bridge_ports(pid_t pid, const std::vector<BridgePort>& ports);

// The rules of truman.network for validate(): address, gateway and host interface only with
// mode veth, which needs a network namespace of the container's own; the address an IPv4 CIDR
// with a prefix of 1..32, the gateway an IPv4 address in its subnet other than the address;
// the host interface a valid link name. Throws truman::Error (invalid) naming the field.
void validate_network(const ContainerSpec& spec);

// Pure helpers, checked before any kernel work (throw truman::Error kind invalid naming `field`).
struct Ipv4Cidr {
    std::array<std::uint8_t, 4> address{};  // network byte order
    unsigned prefix_length = 0;             // 1..32
};
Ipv4Cidr parse_ipv4_cidr(const std::string& text, const std::string& field);  // "10.88.0.2/16"
std::array<std::uint8_t, 4> parse_ipv4(const std::string& text, const std::string& field);
// IPv6 (dual stack ports): the same, for inet_pton's AF_INET6 text, prefix 1..128.
struct Ipv6Cidr {
    std::array<std::uint8_t, 16> address{};  // network byte order
    unsigned prefix_length = 0;              // 1..128
};
Ipv6Cidr parse_ipv6_cidr(const std::string& text, const std::string& field);  // "fd00::2/64"
std::array<std::uint8_t, 16> parse_ipv6(const std::string& text, const std::string& field);
// Interface names: 1..15 characters, no '/', ':' or white space (the kernel's dev_valid_name).
void validate_link_name(const std::string& name, const std::string& field);
// Namespace names: what `ip netns` accepts (not empty, ".", ".." and no '/').
void validate_netns_name(const std::string& name, const std::string& field);
// The generated host end of a container's veth: "tm" + the first 11 characters of the id
// (IFNAMSIZ is 16 including the NUL).
std::string host_link_name(const std::string& container_id);
// The host end of a container's port on its index-th network (mode bridge): host_link_name,
// and "-<index>" after it from the second network on. At most max_bridge_ports networks.
constexpr size_t max_bridge_ports = 9;
std::string bridge_port_name(const std::string& container_id, size_t index);

// Bridges (bridge.cpp), in the caller's network namespace.
// Creates bridge `name` if missing, gives it `address` (CIDR; the network's gateway) and, for
// a dual stack network, `address6` (IPv6 CIDR, without duplicate address detection so that it
// is usable at once) unless it has them, and brings it up: what the daemon does for each
// network, also again after a restart or a reboot. Throws truman::Error naming the bridge.
void ensure_bridge(const std::string& name, const std::string& address,
                   const std::string& address6 = "");
// The bridge and, with it, every port still enslaved to it. ENODEV is not an error.
void delete_bridge(const std::string& name);
// The names of the links enslaved to bridge `name` (for leak checks and reconciling).
std::vector<std::string> bridge_ports(const std::string& name);

}  // namespace truman
