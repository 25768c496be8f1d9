// Links, addresses and routes over rtnetlink with libnl-route-3 (rtnetlink.hpp).
#include "truman/network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "rtnetlink.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman {
namespace {

using namespace rtnl;

// Optional settings of the host end, made in the same RTM_NEWLINK: enslaved to master
// (IFLA_MASTER), both ends with mtu (IFLA_MTU), the host end up.
struct VethOptions {
    int master_ifindex = 0;
    unsigned mtu = 0;
    bool up = false;
};

// Over sock when given (a caller with more requests to make keeps one socket), else its own.
void create_veth(const std::string& name, const std::string& peer_name, pid_t peer_pid,
                 const std::string& what, const VethOptions& options = {},
                 RouteSocket* sock = nullptr) {
    validate_link_name(name, "veth name");
    validate_link_name(peer_name, "veth peer name");
    LinkPtr link(rtnl_link_veth_alloc());
    if (!link) throw make_error(ErrorKind::system, "rtnl_link_veth_alloc", ENOMEM);
    rtnl_link_set_name(link.get(), name.c_str());
    // The peer is owned by the veth object; get_peer hands out one more reference.
    LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
    rtnl_link_set_name(peer.get(), peer_name.c_str());
    // IFLA_NET_NS_PID inside VETH_INFO_PEER: the kernel creates the peer directly in that
    // namespace, with no second request to move it (a move costs 25-35 ms, this 0.3 ms).
    if (peer_pid > 0) rtnl_link_set_ns_pid(peer.get(), peer_pid);
    if (options.master_ifindex > 0) rtnl_link_set_master(link.get(), options.master_ifindex);
    if (options.mtu > 0) {
        rtnl_link_set_mtu(link.get(), options.mtu);
        rtnl_link_set_mtu(peer.get(), options.mtu);
    }
    if (options.up) rtnl_link_set_flags(link.get(), IFF_UP);
    std::unique_ptr<RouteSocket> own;
    if (!sock) sock = (own = std::make_unique<RouteSocket>()).get();
    sock->run_or_throw(
        what, [&](nl_sock* s) { return rtnl_link_add(s, link.get(), NLM_F_CREATE | NLM_F_EXCL); });
}

}  // namespace

void validate_link_name(const std::string& name, const std::string& field) {
    // The kernel's dev_valid_name(), checked here so the message names the field.
    if (name.empty()) throw invalid_argument(field, "must not be empty");
    if (name.size() >= IFNAMSIZ)
        throw invalid_argument(field, "\"" + name + "\" is longer than 15 characters");
    if (name == "." || name == "..") throw invalid_argument(field, "must not be . or ..");
    for (unsigned char c : name)
        if (c == '/' || c == ':' || std::isspace(c))
            throw invalid_argument(field, "\"" + name + "\" contains '/', ':' or white space");
}

std::array<std::uint8_t, 4> parse_ipv4(const std::string& text, const std::string& field) {
    std::array<std::uint8_t, 4> out{};
    // inet_pton takes only the four-part dotted form (no "10.1", no octal), which is what we want.
    if (::inet_pton(AF_INET, text.c_str(), out.data()) != 1)
        throw invalid_argument(field, "\"" + text + "\" is not an IPv4 address like 10.88.0.1");
    return out;
}

Ipv4Cidr parse_ipv4_cidr(const std::string& text, const std::string& field) {
    const std::string why = "\"" + text + "\" is not an IPv4 CIDR address like 10.88.0.2/16";
    auto slash = text.find('/');
    if (slash == std::string::npos) throw invalid_argument(field, why);
    std::string prefix = text.substr(slash + 1);
    if (prefix.empty() || prefix.size() > 2 ||
        prefix.find_first_not_of("0123456789") != std::string::npos)
        throw invalid_argument(field, why);
    Ipv4Cidr cidr;
    cidr.prefix_length = static_cast<unsigned>(std::stoul(prefix));
    // Not /0: the kernel adds no on-link route for it, so the address reaches nothing and a
    // default route through any gateway fails ("Nexthop has invalid gateway").
    if (cidr.prefix_length < 1 || cidr.prefix_length > 32) throw invalid_argument(field, why);
    std::array<std::uint8_t, 4> bytes{};
    if (::inet_pton(AF_INET, text.substr(0, slash).c_str(), bytes.data()) != 1)
        throw invalid_argument(field, why);
    cidr.address = bytes;
    return cidr;
}

std::array<std::uint8_t, 16> parse_ipv6(const std::string& text, const std::string& field) {
    std::array<std::uint8_t, 16> out{};
    if (::inet_pton(AF_INET6, text.c_str(), out.data()) != 1)
        throw invalid_argument(field, "\"" + text + "\" is not an IPv6 address like fd00::1");
    return out;
}

Ipv6Cidr parse_ipv6_cidr(const std::string& text, const std::string& field) {
    const std::string why = "\"" + text + "\" is not an IPv6 CIDR address like fd00::2/64";
    auto slash = text.find('/');
    if (slash == std::string::npos) throw invalid_argument(field, why);
    std::string prefix = text.substr(slash + 1);
    if (prefix.empty() || prefix.size() > 3 ||
        prefix.find_first_not_of("0123456789") != std::string::npos)
        throw invalid_argument(field, why);
    Ipv6Cidr cidr;
    cidr.prefix_length = static_cast<unsigned>(std::stoul(prefix));
    // Not /0, as for IPv4: no on-link route, so no gateway could be reached.
    if (cidr.prefix_length < 1 || cidr.prefix_length > 128) throw invalid_argument(field, why);
    if (::inet_pton(AF_INET6, text.substr(0, slash).c_str(), cidr.address.data()) != 1)
        throw invalid_argument(field, why);
    return cidr;
}

const char* to_string(Network::Mode mode) noexcept {
    switch (mode) {
        case Network::Mode::none:
            return "none";
        case Network::Mode::loopback:
            return "loopback";
        case Network::Mode::veth:
            return "veth";
        case Network::Mode::bridge:
            return "bridge";
    }
    return "unknown";
}

Network::Mode network_mode_from_string(const std::string& name, const std::string& field) {
    for (auto mode :
         {Network::Mode::none, Network::Mode::loopback, Network::Mode::veth, Network::Mode::bridge})
        if (name == to_string(mode)) return mode;
    throw invalid_argument(
        field, "unknown network mode \"" + name + "\" (expected none, loopback, veth or bridge)");
}

namespace {

// A default route needs its gateway on the link's subnet, and not the address itself.
void check_gateway_of(const std::string& address, const std::string& gateway,
                      const std::string& address_field, const std::string& gateway_field) {
    Ipv4Cidr cidr = parse_ipv4_cidr(address, address_field);
    if (gateway.empty()) return;
    std::array<std::uint8_t, 4> via = parse_ipv4(gateway, gateway_field);
    auto host_order = [](const std::array<std::uint8_t, 4>& a) {
        return uint32_t{a[0]} << 24 | uint32_t{a[1]} << 16 | uint32_t{a[2]} << 8 | a[3];
    };
    uint32_t mask = ~uint32_t{0} << (32 - cidr.prefix_length);
    if ((host_order(via) & mask) != (host_order(cidr.address) & mask))
        throw invalid_argument(gateway_field, gateway + " is not in the subnet of " + address);
    if (via == cidr.address) throw invalid_argument(gateway_field, "must differ from the address");
}

void check_gateway6_of(const std::string& address, const std::string& gateway,
                       const std::string& address_field, const std::string& gateway_field) {
    Ipv6Cidr cidr = parse_ipv6_cidr(address, address_field);
    if (gateway.empty()) return;
    std::array<std::uint8_t, 16> via = parse_ipv6(gateway, gateway_field);
    bool inside = true;
    for (unsigned bit = 0; bit < cidr.prefix_length && inside; ++bit) {
        const auto m = static_cast<std::uint8_t>(0x80u >> (bit % 8));
        inside = (via[bit / 8] & m) == (cidr.address[bit / 8] & m);
    }
    if (!inside)
        throw invalid_argument(gateway_field, gateway + " is not in the subnet of " + address);
    if (via == cidr.address) throw invalid_argument(gateway_field, "must differ from the address");
}

bool has_own_netns(const ContainerSpec& spec) {
    return std::any_of(
        spec.linux.namespaces.begin(), spec.linux.namespaces.end(),
        [](const Namespace& ns) { return ns.type == NamespaceType::network && ns.path.empty(); });
}

// Mode bridge: the daemon fills these from its networks; checked like any other input.
void validate_bridge_ports(const ContainerSpec& spec) {
    const Network& net = spec.network;
    if (!has_own_netns(spec))
        throw invalid_argument("truman.network.mode",
                               "\"bridge\" needs a new network namespace in linux.namespaces");
    if (net.bridges.empty())
        throw invalid_argument("truman.network.bridges", "mode \"bridge\" needs at least one");
    if (net.bridges.size() > max_bridge_ports)
        throw invalid_argument("truman.network.bridges",
                               "at most " + std::to_string(max_bridge_ports) + " networks");
    for (size_t i = 0; i < net.bridges.size(); ++i) {
        const BridgePort& port = net.bridges[i];
        const std::string at = "truman.network.bridges[" + std::to_string(i) + "].";
        validate_link_name(port.bridge, at + "bridge");
        validate_link_name(port.host_interface, at + "hostInterface");
        validate_link_name(port.interface, at + "interface");
        if (port.interface == "lo") throw invalid_argument(at + "interface", "must not be lo");
        for (size_t j = 0; j < i; ++j) {
            if (net.bridges[j].interface == port.interface)
                throw invalid_argument(at + "interface",
                                       "\"" + port.interface + "\" is used twice");
            if (net.bridges[j].host_interface == port.host_interface)
                throw invalid_argument(at + "hostInterface",
                                       "\"" + port.host_interface + "\" is used twice");
        }
        check_gateway_of(port.address, port.gateway, at + "address", at + "gateway");
        if (i > 0 && !port.gateway.empty())
            throw invalid_argument(at + "gateway", "only the first network has the default route");
        if (port.address6.empty()) {
            if (!port.gateway6.empty()) throw invalid_argument(at + "gateway6", "needs address6");
            continue;
        }
        check_gateway6_of(port.address6, port.gateway6, at + "address6", at + "gateway6");
        if (i > 0 && !port.gateway6.empty())
            throw invalid_argument(at + "gateway6", "only the first network has the default route");
    }
}

}  // namespace

void validate_network(const ContainerSpec& spec) {
    const Network& net = spec.network;
    if (net.mode != Network::Mode::bridge && !net.bridges.empty())
        throw invalid_argument("truman.network.bridges", "only used with mode \"bridge\"");
    if (net.mode == Network::Mode::bridge) {
        const std::pair<const std::string*, const char*> veth_only[] = {
            {&net.address, "truman.network.address"},
            {&net.gateway, "truman.network.gateway"},
            {&net.host_interface, "truman.network.hostInterface"}};
        for (const auto& [value, field] : veth_only)
            if (!value->empty()) throw invalid_argument(field, "only used with mode \"veth\"");
        validate_bridge_ports(spec);
        return;
    }
    if (net.mode != Network::Mode::veth) {
        const std::pair<const std::string*, const char*> veth_only[] = {
            {&net.address, "truman.network.address"},
            {&net.gateway, "truman.network.gateway"},
            {&net.host_interface, "truman.network.hostInterface"}};
        for (const auto& [value, field] : veth_only)
            if (!value->empty()) throw invalid_argument(field, "only used with mode \"veth\"");
        return;
    }
    if (!has_own_netns(spec)) {
        throw invalid_argument("truman.network.mode",
                               "\"veth\" needs a new network namespace in linux.namespaces");
    }
    if (!net.host_interface.empty())
        validate_link_name(net.host_interface, "truman.network.hostInterface");
    if (net.address.empty()) {
        if (!net.gateway.empty())
            throw invalid_argument("truman.network.gateway", "needs truman.network.address");
        return;
    }
    check_gateway_of(net.address, net.gateway, "truman.network.address", "truman.network.gateway");
}

std::string host_link_name(const std::string& container_id) {
    if (container_id.empty()) throw invalid_argument("container id", "must not be empty");
    constexpr std::size_t id_chars =
        11;  // "tm" + 11 + NUL fits in IFNAMSIZ (16) with room to spare
    std::string name = "tm" + container_id.substr(0, id_chars);
    validate_link_name(name, "network.host_interface (generated from the container id)");
    return name;
}

void create_veth_pair(const std::string& name, const std::string& peer) {
    create_veth(name, peer, 0, "RTM_NEWLINK veth " + name + " (peer " + peer + ")");
}

void create_veth_into(const std::string& host_name, const std::string& peer_name,
                      pid_t target_pid) {
    if (target_pid <= 0) throw invalid_argument("target pid", std::to_string(target_pid));
    create_veth(host_name, peer_name, target_pid,
                "RTM_NEWLINK veth " + host_name + " (peer " + peer_name + in_pid(target_pid) + ")");
}

void delete_link(const std::string& name) {
    validate_link_name(name, "link name");
    LinkPtr link(rtnl_link_alloc());
    if (!link) throw make_error(ErrorKind::system, "rtnl_link_alloc", ENOMEM);
    rtnl_link_set_name(link.get(), name.c_str());
    RouteSocket sock;
    int err = sock.run([&](nl_sock* s) { return rtnl_link_delete(s, link.get()); });
    if (err != 0 && err != ENODEV) throw make_error(kind_for(err), "RTM_DELLINK " + name, err);
}

bool link_exists(const std::string& name) {
    validate_link_name(name, "link name");
    RouteSocket sock;
    rtnl_link* raw = nullptr;
    int err = sock.run([&](nl_sock* s) { return rtnl_link_get_kernel(s, 0, name.c_str(), &raw); });
    LinkPtr link(raw);
    if (err == ENODEV || err == ENOENT) return false;
    if (err != 0) throw make_error(kind_for(err), "RTM_GETLINK " + name, err);
    return true;
}

void set_link_up(const std::string& name) {
    validate_link_name(name, "link name");
    RouteSocket sock;
    set_up(sock, name, "");
}

void configure_container_network(pid_t pid, const std::string& ifname, const std::string& address,
                                 const std::string& gateway) {
    // All input is checked before the first request, so bad input changes nothing.
    Ipv4Cidr cidr;
    std::array<std::uint8_t, 4> via{};
    if (!address.empty()) {
        validate_link_name(ifname, "network interface");
        cidr = parse_ipv4_cidr(address, "network.address");
        if (!gateway.empty()) via = parse_ipv4(gateway, "network.gateway");
    } else if (!gateway.empty()) {
        throw invalid_argument("network.gateway", "needs network.address");
    }
    if (pid <= 0) throw invalid_argument("pid", std::to_string(pid));

    auto sock = route_socket_in_netns_of(pid);
    const std::string where = in_pid(pid);
    set_up(*sock, "lo", where);
    if (address.empty()) return;
    int ifindex = link_index(*sock, ifname, where);
    add_address(*sock, ifindex, cidr, "add address " + address + " to " + ifname + where);
    set_up(*sock, ifname, where);
    if (!gateway.empty())
        add_default_route(*sock, ifindex, via,
                          "add default route via " + format_ipv4(via) + " dev " + ifname + where);
}

namespace {

// Hairpin mode on a bridge port: a frame may leave by the port it came in on. With
// br_netfilter loaded, a DNAT whose new destination is on the same bridge is delivered at
// layer 2 (br_nf_pre_routing_finish), not routed, so a container reaching its own published
// port through the host's address sends a frame that must go back out of its own port; the
// bridge drops that unless the port is in hairpin mode (Docker sets it for the same reason).
// The port's bridge options by name, as `ip link set NAME type bridge_slave hairpin on` does:
// RTM_NEWLINK (no NLM_F_CREATE) with ifindex 0 and IFLA_IFNAME, so the kernel looks the link
// up itself (no RTM_GETLINK round trip first), and IFLA_BRPORT_MODE in the slave data of
// IFLA_LINKINFO, which the kernel hands to the bridge the link is enslaved to.
void set_hairpin(RouteSocket& sock, const std::string& port_name) {
    std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(
        nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK), nlmsg_free);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    if (!msg || nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        nla_put_string(msg.get(), IFLA_IFNAME, port_name.c_str()) < 0)
        throw make_error(ErrorKind::system, "hairpin message for " + port_name, ENOMEM);
    nlattr* linkinfo = nla_nest_start(msg.get(), IFLA_LINKINFO);
    if (!linkinfo || nla_put_string(msg.get(), IFLA_INFO_SLAVE_KIND, "bridge") < 0)
        throw make_error(ErrorKind::system, "hairpin message for " + port_name, ENOMEM);
    nlattr* data = nla_nest_start(msg.get(), IFLA_INFO_SLAVE_DATA);
    if (!data || nla_put_u8(msg.get(), IFLA_BRPORT_MODE, 1) < 0)
        throw make_error(ErrorKind::system, "hairpin message for " + port_name, ENOMEM);
    nla_nest_end(msg.get(), data);
    nla_nest_end(msg.get(), linkinfo);
    sock.run_or_throw("RTM_SETLINK " + port_name + " hairpin on", [&](nl_sock* s) {
        int rc = nl_send_auto(s, msg.get());
        return rc < 0 ? rc : nl_wait_for_ack(s);
    });
}

// Mode bridge. Per port one RTM_NEWLINK makes the pair with the peer inside the container,
// the host end already enslaved, up and with the bridge's MTU (a veth defaults to 1500,
// whatever the bridge carries); then, over one socket inside the container, the address, the
// link up and the default route. lo is the child's (plan.loopback_up).
std::string setup_bridge_ports(pid_t pid, const Network& net) {
    add_bridge_ports(pid, net.bridges);
    return net.bridges.front().host_interface;
}

}  // namespace

void add_bridge_ports(pid_t pid, const std::vector<BridgePort>& ports) {
    const Network net{Network::Mode::bridge, "", "", "", ports};
    std::vector<Ipv4Cidr> cidrs;
    std::vector<std::array<std::uint8_t, 4>> gateways;
    std::vector<Ipv6Cidr> cidrs6;
    std::vector<std::array<std::uint8_t, 16>> gateways6;
    for (const BridgePort& port : net.bridges) {
        validate_link_name(port.bridge, "network.bridge");
        validate_link_name(port.host_interface, "network.host_interface");
        validate_link_name(port.interface, "network.interface");
        cidrs.push_back(parse_ipv4_cidr(port.address, "network.address"));
        gateways.push_back(port.gateway.empty() ? std::array<std::uint8_t, 4>{}
                                                : parse_ipv4(port.gateway, "network.gateway"));
        cidrs6.push_back(port.address6.empty()
                             ? Ipv6Cidr{}
                             : parse_ipv6_cidr(port.address6, "network.address6"));
        gateways6.push_back(port.gateway6.empty() ? std::array<std::uint8_t, 16>{}
                                                  : parse_ipv6(port.gateway6, "network.gateway6"));
    }
    std::vector<std::string> made;
    try {
        {
            RouteSocket host;
            for (const BridgePort& port : net.bridges) {
                rtnl_link* raw = nullptr;
                host.run_or_throw("RTM_GETLINK bridge " + port.bridge, [&](nl_sock* s) {
                    return rtnl_link_get_kernel(s, 0, port.bridge.c_str(), &raw);
                });
                LinkPtr bridge(raw);
                VethOptions options;
                options.master_ifindex = rtnl_link_get_ifindex(bridge.get());
                options.mtu = rtnl_link_get_mtu(bridge.get());
                options.up = true;
                create_veth(port.host_interface, port.interface, pid,
                            "RTM_NEWLINK veth " + port.host_interface + " (peer " + port.interface +
                                in_pid(pid) + ", master " + port.bridge + ")",
                            options, &host);
                made.push_back(port.host_interface);
                set_hairpin(host, port.host_interface);
            }
        }
        const std::string where = in_pid(pid);
        // Before the links are up: no router advertisement from a peer is ever taken.
        std::vector<std::string> inside;
        for (const BridgePort& port : net.bridges) inside.push_back(port.interface);
        auto sock = route_socket_in_netns_of(pid, inside, where);
        for (size_t i = 0; i < net.bridges.size(); ++i) {
            const BridgePort& port = net.bridges[i];
            int ifindex = link_index(*sock, port.interface, where);
            add_address(*sock, ifindex, cidrs[i],
                        "add address " + port.address + " to " + port.interface + where);
            if (!port.address6.empty())
                add_address6(*sock, ifindex, cidrs6[i],
                             "add address " + port.address6 + " to " + port.interface + where);
            set_up(*sock, port.interface, where);
            if (!port.gateway.empty())
                add_default_route(
                    *sock, ifindex, gateways[i],
                    "add default route via " + port.gateway + " dev " + port.interface + where);
            // After the link is up: the kernel checks an IPv6 nexthop's device is up.
            if (!port.gateway6.empty())
                add_default_route6(
                    *sock, ifindex, gateways6[i],
                    "add default route via " + port.gateway6 + " dev " + port.interface + where);
        }
    } catch (...) {
        // Deleting a host end takes the container's end with it.
        for (const auto& name : made) {
            try {
                delete_link(name);
            } catch (const Error& e) {
                // Keep the first error; the pair still dies with the container's namespace.
                std::fprintf(stderr, "truman: %s\n", e.what());
            }
        }
        throw;
    }
}

std::string bridge_port_name(const std::string& container_id, size_t index) {
    std::string name = host_link_name(container_id);
    if (index > 0) name += "-" + std::to_string(index);
    validate_link_name(name, "network.host_interface (generated from the container id)");
    return name;
}

std::string setup_network(pid_t pid, const Network& net, const std::string& container_id) {
    switch (net.mode) {
        case Network::Mode::none:
            return "";
        case Network::Mode::loopback:
            configure_container_network(pid, "", "", "");
            return "";
        case Network::Mode::bridge:
            if (pid <= 0) throw invalid_argument("pid", std::to_string(pid));
            return setup_bridge_ports(pid, net);
        case Network::Mode::veth:
            break;
    }
    std::string host =
        net.host_interface.empty() ? host_link_name(container_id) : net.host_interface;
    validate_link_name(host, "network.host_interface");
    if (!net.address.empty()) parse_ipv4_cidr(net.address, "network.address");
    if (!net.gateway.empty()) {
        if (net.address.empty()) throw invalid_argument("network.gateway", "needs network.address");
        parse_ipv4(net.gateway, "network.gateway");
    }

    create_veth_into(host, "eth0", pid);
    try {
        set_link_up(host);
        configure_container_network(pid, "eth0", net.address, net.gateway);
    } catch (...) {
        // Deleting the host end takes the container's eth0 with it.
        try {
            delete_link(host);
        } catch (...) {
            // Keep the first error; the pair still dies with the container's namespace.
        }
        throw;
    }
    return host;
}

}  // namespace truman
