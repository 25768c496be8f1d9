#include "truman/daemon/ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "truman/daemon/ipam.hpp"
#include "truman/error.hpp"

namespace truman::daemon::ports {

namespace {

constexpr uint32_t max_port = 65535;

void check_port(uint32_t port, const std::string& field, bool zero_allowed) {
    if ((port == 0 && !zero_allowed) || port > max_port)
        throw invalid_argument(field, std::to_string(port) + " is not a port (1..65535)");
}

}  // namespace

void normalise(std::vector<PortMapping>& ports) {
    size_t total = 0;
    std::vector<Binding> seen;
    for (size_t i = 0; i < ports.size(); ++i) {
        PortMapping& p = ports[i];
        const std::string at = "ports[" + std::to_string(i) + "].";
        if (p.proto.empty()) p.proto = "tcp";
        if (p.proto != "tcp" && p.proto != "udp")
            throw invalid_argument(at + "proto", "tcp or udp, not " + p.proto);
        if (p.host_ip.empty()) p.host_ip = "0.0.0.0";
        if (p.host_ip.find(':') != std::string::npos)
            throw invalid_argument(at + "host_ip",
                                   p.host_ip + ": IPv6 is not published (::1 cannot be DNATed)");
        p.host_ip = ipam::format_address(ipam::parse_address(p.host_ip, at + "host_ip"));
        check_port(p.container_port, at + "container_port", false);
        if (p.container_port_end == 0) p.container_port_end = p.container_port;
        check_port(p.container_port_end, at + "container_port_end", false);
        if (p.container_port_end < p.container_port)
            throw invalid_argument(at + "container_port_end", "ends before container_port");
        const uint32_t count = p.container_port_end - p.container_port + 1;
        check_port(p.host_port, at + "host_port", count == 1 && p.host_port_end == 0);
        if (p.host_port_end == 0) p.host_port_end = p.host_port + count - 1;
        check_port(p.host_port_end, at + "host_port_end", p.host_port == 0);
        if (p.host_port_end < p.host_port)
            throw invalid_argument(at + "host_port_end", "ends before host_port");
        if (p.host_port_end - p.host_port + 1 != count)
            throw invalid_argument(at + "host_port_end",
                                   "the host range and the container range differ in length");
        total += count;
        if (total > max_published_ports)
            throw invalid_argument(
                "ports", "at most " + std::to_string(max_published_ports) + " ports per container");
        for (const auto& b : bindings_of(p)) {
            if (b.host_port == 0) continue;
            for (const auto& s : seen)
                if (overlaps(b, s))
                    throw invalid_argument(at + "host_port", describe(b) + " is given twice");
            seen.push_back(b);
        }
    }
}

std::vector<Binding> bindings_of(const PortMapping& m) {
    std::vector<Binding> out;
    for (uint32_t port = m.host_port; port <= m.host_port_end; ++port)
        out.push_back({m.host_ip, port, m.proto});
    return out;
}

bool overlaps(const Binding& a, const Binding& b) {
    return a.proto == b.proto && a.host_port == b.host_port &&
           (a.host_ip == b.host_ip || a.host_ip == "0.0.0.0" || b.host_ip == "0.0.0.0");
}

std::string describe(const Binding& b) {
    return b.host_ip + ":" + std::to_string(b.host_port) + "/" + b.proto;
}

Fd hold(const std::string& host_ip, uint32_t port, const std::string& proto, uint32_t* chosen,
        const std::string& field) {
    const std::string what = describe({host_ip, port, proto});
    Fd fd(::socket(AF_INET, (proto == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
    if (!fd) throw system_error("socket for " + what);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host_ip.c_str(), &sa.sin_addr) != 1)
        throw invalid_argument(field, host_ip + " is not an IPv4 address");
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0) {
        int err = errno;
        if (err == EADDRINUSE)
            throw Error(ErrorKind::conflict, err,
                        what + " is already in use by another program on the host");
        if (err == EADDRNOTAVAIL)
            throw invalid_argument(field, host_ip + " is not an address of this host");
        throw make_error(ErrorKind::system, "bind " + what, err);
    }
    if (chosen) {
        socklen_t len = sizeof sa;
        if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) < 0)
            throw system_error("getsockname for " + what);
        *chosen = ntohs(sa.sin_port);
    }
    return fd;
}

}  // namespace truman::daemon::ports
