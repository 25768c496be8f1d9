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
        if (p.host_ip.find(':') != std::string::npos) {
            auto address = ipam::parse_address6(p.host_ip, at + "host_ip");
            if (address == 1)
                throw invalid_argument(
                    at + "host_ip",
                    "::1 cannot be published: the kernel cannot DNAT from IPv6 loopback (there is "
                    "no route_localnet for IPv6); use 127.0.0.1, :: or an address of the host");
            p.host_ip = ipam::format_address6(address);  // canonical, so that overlaps compare
        } else {
            p.host_ip = ipam::format_address(ipam::parse_address(p.host_ip, at + "host_ip"));
        }
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
    // 0.0.0.0 is every address, of both families (on a dual stack network it holds :: too);
    // :: every IPv6 address.
    auto six = [](const Binding& x) { return x.host_ip.find(':') != std::string::npos; };
    return a.proto == b.proto && a.host_port == b.host_port &&
           (a.host_ip == b.host_ip || a.host_ip == "0.0.0.0" || b.host_ip == "0.0.0.0" ||
            (a.host_ip == "::" && six(b)) || (b.host_ip == "::" && six(a)));
}

std::string describe(const Binding& b) {
    if (b.host_ip.find(':') != std::string::npos)
        return "[" + b.host_ip + "]:" + std::to_string(b.host_port) + "/" + b.proto;
    return b.host_ip + ":" + std::to_string(b.host_port) + "/" + b.proto;
}

Fd hold(const std::string& host_ip, uint32_t port, const std::string& proto, uint32_t* chosen,
        const std::string& field) {
    const std::string what = describe({host_ip, port, proto});
    const bool six = host_ip.find(':') != std::string::npos;
    Fd fd(::socket(six ? AF_INET6 : AF_INET,
                   (proto == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
    if (!fd) throw system_error("socket for " + what);
    sockaddr_storage ss{};
    socklen_t sa_len = 0;
    if (six) {
        // Only IPv6: the IPv4 side is held by a socket of its own (or by nobody).
        int on = 1;
        if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) < 0)
            throw system_error("IPV6_V6ONLY for " + what);
        auto* sa6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons(static_cast<uint16_t>(port));
        if (inet_pton(AF_INET6, host_ip.c_str(), &sa6->sin6_addr) != 1)
            throw invalid_argument(field, host_ip + " is not an IPv6 address");
        sa_len = sizeof(sockaddr_in6);
    } else {
        auto* sa4 = reinterpret_cast<sockaddr_in*>(&ss);
        sa4->sin_family = AF_INET;
        sa4->sin_port = htons(static_cast<uint16_t>(port));
        if (inet_pton(AF_INET, host_ip.c_str(), &sa4->sin_addr) != 1)
            throw invalid_argument(field, host_ip + " is not an IPv4 address");
        sa_len = sizeof(sockaddr_in);
    }
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), sa_len) < 0) {
        int err = errno;
        if (err == EADDRINUSE)
            throw Error(ErrorKind::conflict, err,
                        what + " is already in use by another program on the host");
        if (err == EADDRNOTAVAIL)
            throw invalid_argument(field, host_ip + " is not an address of this host");
        throw make_error(ErrorKind::system, "bind " + what, err);
    }
    if (chosen) {
        socklen_t len = sizeof ss;
        if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) < 0)
            throw system_error("getsockname for " + what);
        *chosen = six ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }
    return fd;
}

}  // namespace truman::daemon::ports
