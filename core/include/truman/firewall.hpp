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
#pragma once

#include <set>
#include <string>
#include <vector>

namespace truman {

struct NatNetwork {
    std::string name;
    std::string bridge;
    std::string subnet;  // IPv4 CIDR without host bits
    bool internal = false;
};

inline constexpr const char* firewall_table = "truman";

// The JSON batch that makes `table inet truman` hold exactly these networks' rules: for each,
// masquerade of its subnet leaving by another device (unless internal), or, internal, a drop
// of anything forwarded between its bridge and another device. Pure (unit tested).
std::string firewall_batch(const std::vector<NatNetwork>& networks);
// Runs it in the caller's network namespace. Throws truman::Error naming nftables' message.
void apply_firewall(const std::vector<NatNetwork>& networks);
// Deletes the table (nothing if it does not exist).
void remove_firewall();
// `nft list table inet truman` as nft prints it ("" when there is no table): for tests and
// for an operator's eyes.
std::string list_firewall();

// Sets /proc/sys/net/ipv4/conf/<dev>/forwarding to 1 for each device (ENOENT: the device is
// gone, not an error). Throws truman::Error naming the file.
void enable_ipv4_forwarding(const std::set<std::string>& devices,
                            const std::string& proc_sys = "/proc/sys");
// The devices of the IPv4 default routes in /proc/net/route: where replies come back in.
std::set<std::string> ipv4_uplinks(const std::string& proc_net_route = "/proc/net/route");

}  // namespace truman
