// IPv4 address management for bridge networks, as pure functions: subnets and their overlap
// rules, choosing a subnet from the pool, the next free address. network_store.cpp keeps the
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

}  // namespace truman::daemon::ipam
