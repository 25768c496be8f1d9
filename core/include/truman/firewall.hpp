// truman's nftables: one table, `inet truman`, that trumand owns whole (libnftables, JSON
// commands). It never reads or changes any other table. Every rule carries the network it
// belongs to in its comment; the table is rebuilt from the daemon's networks in one
// transaction whenever they change and at start-up, so after a crash there is neither a stale
// nor a duplicate rule.
//
// Forwarding. IPv4 forwarding is decided per ingress device (net.ipv4.conf.<dev>.forwarding,
// checked on the device a packet comes in on), so a network's traffic out needs it on its
// bridge and the replies need it on the uplink they come back on. enable_ipv4_forwarding sets
// exactly those devices' switch and never net.ipv4.ip_forward or conf.all (which would turn
// every interface of the host, present and future, into a router).
//
// IPv6 forwarding has no such per-device switch before Linux 6.17: only
// net.ipv6.conf.all.forwarding routes, and writing it sets every device's `forwarding` (and
// `default`'s) with it. A device that forwards ignores router advertisements unless its
// accept_ra is 2, so an uplink configured by SLAAC would lose its default route when the
// router lifetime runs out. enable_ipv6_forwarding therefore first moves every device's
// accept_ra (and default's, for devices made later) from 1 to 2, which keeps accepting RAs
// exactly as before, and only then sets all.forwarding. Devices with accept_ra 0 or 2 are left
// as they are. It is called only while a network with IPv6 is not internal.
//
// That switch makes the host route IPv6 between all its devices, not only truman's. When
// truman is the one that turned it on (all.forwarding was 0), the table also guards it, as
// Docker does with ip6tables' FORWARD policy: forwarded IPv6 is accepted when it is
// established or related, or comes from or goes to one of truman's bridges, and dropped
// otherwise. When all.forwarding was 1 already, the host was a router before truman came and
// its other forwarding is left as it was (no guard). The guard outlives the networks: the
// table keeps it, alone, once the last network is gone (forwarding stays on, see README), and
// it is how a restarted trumand knows that it turned forwarding on.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace truman {

struct NatNetwork {
    std::string name;
    std::string bridge;
    std::string subnet;  // IPv4 CIDR without host bits
    bool internal = false;
    std::string subnet6{};  // dual stack: IPv6 CIDR without host bits ("" = none)
    // The address of its DNS server (the gateway; dns_server.hpp), "" for none: queries for
    // it from any device but the bridge (another network's containers, the uplink) are
    // dropped, so it serves its own network only. The host itself (lo) may ask it too.
    std::string dns_address{};
    std::string dns_address6{};  // its IPv6 address on a dual stack network, guarded alike
};

inline constexpr const char* firewall_table = "truman";

// A published port: what arrives for host_ip:host_port (on any local address of the host
// when host_ip is "" or 0.0.0.0) goes to container_address:container_port, on bridge. One
// per port: a range is one of these per port of it. The rules (port_forward_rules) are DNAT
// in the kernel, so a published port keeps working while trumand is down:
//   - prerouting: from other hosts, and from containers (hairpin, to their own port too);
//   - output: from the host itself, 127.0.0.1 included (with route_localnet on the bridge,
//     which the kernel needs to route a 127/8 source out of a non-loopback device);
//   - postrouting: masquerade of what was DNATed from 127/8 or from the bridge's own subnet
//     (without it the container would answer a hairpin client, or 127.0.0.1, directly);
//   - a raw-priority guard: nothing arriving on the bridge for 127/8 (route_localnet would
//     otherwise let a container reach the host's loopback-only services, CVE-2020-8558).
// ::1 cannot be DNATed at all (the kernel has no route_localnet for IPv6): not published.
//
// IPv6 (a container with container_address6): host_ip "" or 0.0.0.0 means every local address
// of both families, so the rules above are made for IPv6 too, to container_address6 (no ::1,
// and the hairpin masquerade from subnet6 only); an IPv6 host_ip ("::" for every IPv6 address)
// makes the IPv6 rules only, an IPv4 one the IPv4 rules only.
struct PortForward {
    std::string owner;   // the rules' comment: "container <name>"
    std::string bridge;  // where the container is
    std::string subnet;  // the bridge's network, IPv4 CIDR
    std::string host_ip;
    uint16_t host_port = 0;
    std::string container_address;
    uint16_t container_port = 0;
    std::string proto;                 // "tcp" or "udp"
    std::string subnet6{};             // the bridge's IPv6 network ("" = none)
    std::string container_address6{};  // "" = the container has no IPv6 address
};

// The JSON batch that makes `table inet truman` hold exactly these networks' rules: for each,
// masquerade of its subnet leaving by another device (unless internal), or, internal, a drop
// of anything forwarded between its bridge and another device. Pure (unit tested).
// With ports, their rules too (PortForward above); with guard_ipv6_forwarding, the guard of
// IPv6 forwarding (the header's comment), the last rules of the forward chain.
std::string firewall_batch(const std::vector<NatNetwork>& networks,
                           const std::vector<PortForward>& ports = {},
                           bool guard_ipv6_forwarding = false);
// Runs it in the caller's network namespace. Throws truman::Error naming nftables' message.
void apply_firewall(const std::vector<NatNetwork>& networks,
                    const std::vector<PortForward>& ports = {}, bool guard_ipv6_forwarding = false);
// The comment of the guard's rules: list_firewall() holds it while the table guards.
inline constexpr const char* ipv6_forwarding_guard = "truman turned IPv6 forwarding on";
// Whether the caller's namespace's table inet truman guards IPv6 forwarding.
bool firewall_guards_ipv6_forwarding();
// Deletes the table (nothing if it does not exist).
void remove_firewall();
// `nft list table inet truman` as nft prints it ("" when there is no table): for tests and
// for an operator's eyes.
std::string list_firewall();

// Sets /proc/sys/net/ipv4/conf/<dev>/forwarding to 1 for each device (ENOENT: the device is
// gone, not an error). Throws truman::Error naming the file.
void enable_ipv4_forwarding(const std::set<std::string>& devices,
                            const std::string& proc_sys = "/proc/sys");
// Sets /proc/sys/net/ipv4/conf/<dev>/route_localnet to 1 for each device (the bridges whose
// containers publish ports: 127.0.0.1 DNATed to them), like enable_ipv4_forwarding otherwise.
void enable_route_localnet(const std::set<std::string>& devices,
                           const std::string& proc_sys = "/proc/sys");
// IPv6 forwarding as the header's comment says, under proc_sys: accept_ra 1 -> 2 on every
// device and default, then conf/all/forwarding 1 (nothing when it is 1 already). Throws
// truman::Error naming the file.
void enable_ipv6_forwarding(const std::string& proc_sys = "/proc/sys");
// Whether conf/all/forwarding under proc_sys is 1.
bool ipv6_forwarding_enabled(const std::string& proc_sys = "/proc/sys");
// The devices of the IPv4 default routes in /proc/net/route: where replies come back in.
std::set<std::string> ipv4_uplinks(const std::string& proc_net_route = "/proc/net/route");

}  // namespace truman
