// Published ports: the rules for a create's "ports" and for reserving them on the host, as
// functions the network store calls (the records and the firewall are network_store.cpp's).
//
// A port is reserved by a socket trumand binds to host_ip:port/proto and holds for as long
// as the container exists (like Docker's proxy, which holds the listening socket): no other
// program can bind it meanwhile, and what holds it already is found by the bind failing.
// The socket never listens: the traffic itself is DNATed by the kernel (firewall.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "truman/daemon/network_service.hpp"
#include "truman/fd.hpp"

namespace truman::daemon::ports {

// Per container, counting every port of a range: each holds a socket and three rules.
constexpr size_t max_published_ports = 1024;

// Checks a create's ports and fills in the defaults (proto "tcp", host_ip "0.0.0.0", the *_end
// of a single port). Throws truman::Error (invalid) naming ports[i].<field>: a port outside
// 1..65535 (host_port 0 only for a single port), a range that ends before it starts or whose
// two sides differ in length, a proto other than tcp/udp, a host_ip that is no address or
// ::1 (which the kernel cannot DNAT: there is no route_localnet for IPv6, and truman runs no
// userland proxy), the same host port twice, more than max_published_ports. IPv6 host_ips
// come back in canonical form.
void normalise(std::vector<PortMapping>& ports);

// One host port of a mapping.
struct Binding {
    std::string host_ip;
    uint32_t host_port = 0;
    std::string proto;
};
std::vector<Binding> bindings_of(const PortMapping& mapping);
// Same proto and port, and the same address or either of them every address.
bool overlaps(const Binding& a, const Binding& b);
// "0.0.0.0:8080/tcp", "[2001:db8::2]:8080/tcp"
std::string describe(const Binding& binding);

// Binds host_ip:port/proto (an IPv6 host_ip with IPV6_V6ONLY; SO_REUSEADDR off, so that nobody else
// can bind it too) and returns the socket; port 0 lets the kernel choose a free port, returned in
// *chosen. Throws truman::Error: conflict naming it when something holds it already, invalid naming
// field when host_ip is not an address of this host.
Fd hold(const std::string& host_ip, uint32_t port, const std::string& proto, uint32_t* chosen,
        const std::string& field);

}  // namespace truman::daemon::ports
