// Address management for bridge networks, as pure functions: subnets and their overlap
// rules, choosing a subnet from the pool, the next free address; IPv4, and IPv6 for dual
// stack networks (the same rules on 128 bits, below). network_store.cpp keeps the
// records on disk and asks these; unit tests check them without privileges.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace truman::daemon::ipam {

// An IPv4 subnet in host byte order, host bits zero.
struct Subnet {
    uint32_t base = 0;
    unsigned prefix = 0;  // 1..32

    uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
    uint32_t broadcast() const { return base | ~mask(); }
    bool contains(uint32_t address) const { return (address & mask()) == base; }
    bool operator==(const Subnet&) const = default;
};

// Networks need room for a gateway and at least one container, and a subnet that is not
// all of IPv4: /1../30.
constexpr unsigned min_network_prefix = 1;
constexpr unsigned max_network_prefix = 30;

// "10.89.3.0/24" -> Subnet; throws truman::Error (invalid) naming field for a bad CIDR, host
// bits set ("10.89.3.1/24": did you mean 10.89.3.0/24?) or a prefix outside /1../30.
Subnet parse_subnet(const std::string& text, const std::string& field);
// "10.89.3.7" -> host order; throws truman::Error (invalid) naming field.
uint32_t parse_address(const std::string& text, const std::string& field);
std::string format_address(uint32_t address);
std::string format_subnet(const Subnet& subnet);

bool overlaps(const Subnet& a, const Subnet& b);

// Something a new subnet must not overlap: another network or a route of the host.
struct TakenSubnet {
    Subnet subnet;
    std::string holder;  // "network foo", "the host's route 10.0.0.0/8 dev eth0"
};
// Throws truman::Error (conflict) naming the first holder that subnet overlaps.
void check_no_overlap(const Subnet& subnet, const std::vector<TakenSubnet>& taken);
// The first subnet of `prefix` inside pool that overlaps nothing taken. Throws truman::Error
// (conflict) when the pool has none left.
Subnet choose_subnet(const Subnet& pool, unsigned prefix, const std::vector<TakenSubnet>& taken);

// The gateway a network gets when none is given: the subnet's first address.
uint32_t default_gateway(const Subnet& subnet);
// A gateway must be a host address of the subnet (not its network or broadcast address).
// Throws truman::Error (invalid) naming field.
void check_gateway(const Subnet& subnet, uint32_t gateway, const std::string& field);

// The lowest host address of subnet that is neither the gateway nor in used. Throws
// truman::Error (conflict) naming the network when there is none.
uint32_t next_free_address(const Subnet& subnet, uint32_t gateway, const std::set<uint32_t>& used,
                           const std::string& network);
// An address a container asked for: a host address of the subnet, not the gateway
// (invalid, naming field) and not in used (conflict, naming the network).
void check_requested_address(const Subnet& subnet, uint32_t gateway, uint32_t address,
                             const std::set<uint32_t>& used, const std::string& network,
                             const std::string& field);

// The IPv4 routes of the caller's network namespace from /proc/net/route (main table),
// default routes left out; `skip_devices` (our own bridges) too.
std::vector<TakenSubnet> host_routes(const std::string& proc_net_route,
                                     const std::set<std::string>& skip_devices);

// IPv6 (dual stack). An address as one 128-bit number, host order, so that a subnet's
// arithmetic is the IPv4 one's; on disk and on the wire always the text inet_ntop writes.
using Address6 = unsigned __int128;

struct Subnet6 {
    Address6 base = 0;
    unsigned prefix = 0;  // 1..126

    Address6 mask() const { return prefix == 0 ? 0 : ~Address6{0} << (128 - prefix); }
    Address6 last() const { return base | ~mask(); }
    bool contains(Address6 address) const { return (address & mask()) == base; }
    bool operator==(const Subnet6&) const = default;
};

// Room for a gateway and a container; no subnet that is all of IPv6.
constexpr unsigned max_network_prefix6 = 126;
// Where a network's IPv6 subnet comes from when `ipv6: true` gives none: a /64 of the unique
// local block (RFC 4193), like Docker's and podman's.
inline constexpr const char* default_pool6 = "fd00::/8";
constexpr unsigned default_pool6_prefix = 64;

// "fd00:89::/64" -> Subnet6; throws truman::Error (invalid) naming field for a bad CIDR, host
// bits set, a prefix outside /1../126, or a block no network can have (multicast ff00::/8,
// link-local fe80::/10, ::/8 with loopback and the IPv4-mapped addresses).
Subnet6 parse_subnet6(const std::string& text, const std::string& field);
Address6 parse_address6(const std::string& text, const std::string& field);
// Any IPv6 CIDR as a Subnet6, without the network rules (for blocks that are not networks).
Subnet6 parse_subnet6_unchecked(const std::string& text);
std::string format_address6(Address6 address);  // inet_ntop's canonical text
std::string format_subnet6(const Subnet6& subnet);

bool overlaps(const Subnet6& a, const Subnet6& b);

struct TakenSubnet6 {
    Subnet6 subnet;
    std::string holder;
};
void check_no_overlap(const Subnet6& subnet, const std::vector<TakenSubnet6>& taken);
Subnet6 choose_subnet(const Subnet6& pool, unsigned prefix, const std::vector<TakenSubnet6>& taken);

// The subnet's first address after the subnet-router anycast address (base).
Address6 default_gateway(const Subnet6& subnet);
// A host address of the subnet: not base (the subnet-router anycast address). IPv6 has no
// broadcast address, so the last one is a host address.
void check_gateway(const Subnet6& subnet, Address6 gateway, const std::string& field);
Address6 next_free_address(const Subnet6& subnet, Address6 gateway, const std::set<Address6>& used,
                           const std::string& network);
void check_requested_address(const Subnet6& subnet, Address6 gateway, Address6 address,
                             const std::set<Address6>& used, const std::string& network,
                             const std::string& field);

// The IPv6 routes of the caller's namespace from /proc/net/ipv6_route (every table): without
// default routes, host routes (/128: the host's own addresses), link-local and multicast ones,
// lo's and skip_devices'. A missing file (IPv6 disabled) is no routes.
std::vector<TakenSubnet6> host_routes6(const std::string& proc_net_ipv6_route,
                                       const std::set<std::string>& skip_devices);

}  // namespace truman::daemon::ipam
