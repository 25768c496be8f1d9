// Linux bridges over rtnetlink (rtnetlink.hpp): the host side of the daemon's networks. A
// container's port on one is made by network.cpp (setup_network, mode bridge).
#include <netlink/addr.h>
#include <netlink/cache.h>

#include <array>
#include <cstdint>
#include <vector>

#include "rtnetlink.hpp"
#include "truman/network.hpp"

namespace truman {

using namespace rtnl;

namespace {

// A fixed, locally administered MAC for the bridge, the same for the same name (a restart
// sets it again unchanged). Without one the kernel gives a bridge the lowest MAC of its
// ports, so a container joining it could change the gateway's MAC under the others' ARP
// caches, and their packets to the gateway (its DNS server, their way out) were lost for
// seconds.
std::array<unsigned char, 6> bridge_mac(const std::string& name) {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
    std::array<unsigned char, 6> mac{};
    for (size_t i = 0; i < mac.size(); ++i) mac[i] = static_cast<unsigned char>(h >> (8 * i));
    mac[0] = static_cast<unsigned char>((mac[0] & 0xfe) | 0x02);  // unicast, local
    return mac;
}

}  // namespace

void ensure_bridge(const std::string& name, const std::string& address,
                   const std::string& address6) {
    validate_link_name(name, "bridge");
    Ipv4Cidr cidr = parse_ipv4_cidr(address, "bridge address");
    Ipv6Cidr cidr6;
    if (!address6.empty()) cidr6 = parse_ipv6_cidr(address6, "bridge address6");
    RouteSocket sock;
    LinkPtr link(rtnl_link_alloc());
    if (!link) throw make_error(ErrorKind::system, "rtnl_link_alloc", ENOMEM);
    rtnl_link_set_name(link.get(), name.c_str());
    if (int rc = rtnl_link_set_type(link.get(), "bridge"); rc < 0)
        throw make_error(ErrorKind::system, "rtnl_link_set_type bridge", errno_from_nlerr(rc));
    rtnl_link_set_flags(link.get(), IFF_UP);
    std::array<unsigned char, 6> mac = bridge_mac(name);
    nl_addr* lladdr = nl_addr_build(AF_LLC, mac.data(), mac.size());
    if (!lladdr) throw make_error(ErrorKind::system, "nl_addr_build", ENOMEM);
    rtnl_link_set_addr(link.get(), lladdr);  // the link holds its own reference
    nl_addr_put(lladdr);
    // NLM_F_CREATE without NLM_F_EXCL: an existing bridge of that name is brought up instead
    // (a link of another kind is refused by the kernel with EOPNOTSUPP).
    sock.run_or_throw("RTM_NEWLINK bridge " + name,
                      [&](nl_sock* s) { return rtnl_link_add(s, link.get(), NLM_F_CREATE); });
    int ifindex = link_index(sock, name, "");
    // Its addresses and routes are static; a container's router advertisement must not add
    // any to the host (and IPv6 forwarding may have made default's accept_ra 2).
    disable_router_advertisements({name}, " (bridge " + name + ")");
    try {
        add_address(sock, ifindex, cidr, "add address " + address + " to bridge " + name);
    } catch (const Error& e) {
        if (e.err() != EEXIST) throw;  // it has it already: a restart
    }
    if (address6.empty()) return;
    try {
        add_address6(sock, ifindex, cidr6, "add address " + address6 + " to bridge " + name);
    } catch (const Error& e) {
        if (e.err() != EEXIST) throw;
    }
}

void delete_bridge(const std::string& name) {
    delete_link(name);
}

std::vector<std::string> bridge_ports(const std::string& name) {
    validate_link_name(name, "bridge");
    RouteSocket sock;
    rtnl_link* raw = nullptr;
    int err = sock.run([&](nl_sock* s) { return rtnl_link_get_kernel(s, 0, name.c_str(), &raw); });
    LinkPtr bridge(raw);
    if (err == ENODEV || err == ENOENT) return {};
    if (err != 0) throw make_error(kind_for(err), "RTM_GETLINK " + name, err);
    int master = rtnl_link_get_ifindex(bridge.get());

    nl_cache* cache = nullptr;
    sock.run_or_throw("RTM_GETLINK (dump)",
                      [&](nl_sock* s) { return rtnl_link_alloc_cache(s, AF_UNSPEC, &cache); });
    std::vector<std::string> out;
    for (nl_object* o = nl_cache_get_first(cache); o != nullptr; o = nl_cache_get_next(o)) {
        auto* link = reinterpret_cast<rtnl_link*>(o);
        if (rtnl_link_get_master(link) == master) out.emplace_back(rtnl_link_get_name(link));
    }
    nl_cache_free(cache);
    return out;
}

}  // namespace truman
