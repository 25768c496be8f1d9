// Links, addresses and routes over rtnetlink with libnl-route-3.
//
// libnl folds the kernel's errno into its own NLE_* codes, and several errnos share one code
// (ESRCH and ENOENT both become NLE_OBJ_NOTFOUND). Each RouteSocket therefore installs an error
// callback that keeps the errno the kernel put in NLMSG_ERROR, so messages and Error::err() say
// what the kernel said.
#include "truman/network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netlink/errno.h>
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

#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman {
namespace {

template <typename T, void (*Free)(T*)>
struct NlFree {
    void operator()(T* p) const { Free(p); }
};
using LinkPtr = std::unique_ptr<rtnl_link, NlFree<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, NlFree<rtnl_addr, rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, NlFree<rtnl_route, rtnl_route_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlFree<nl_addr, nl_addr_put>>;

ErrorKind kind_for(int err) {
    switch (err) {
        case EEXIST:
            return ErrorKind::conflict;
        case ENODEV:
        case ESRCH:
        case ENOENT:
            return ErrorKind::not_found;
        case EOPNOTSUPP:
            return ErrorKind::unsupported;
        default:
            return ErrorKind::system;
    }
}

// For failures that never reached the kernel (allocation, socket errors).
int errno_from_nlerr(int nlerr) {
    switch (std::abs(nlerr)) {
        case NLE_NOMEM:
            return ENOMEM;
        case NLE_EXIST:
            return EEXIST;
        case NLE_OBJ_NOTFOUND:
            return ENOENT;
        case NLE_NODEV:
            return ENODEV;
        case NLE_INVAL:
            return EINVAL;
        case NLE_PERM:
            return EPERM;
        case NLE_NOACCESS:
            return EACCES;
        case NLE_BUSY:
            return EBUSY;
        case NLE_OPNOTSUPP:
            return EOPNOTSUPP;
        case NLE_AGAIN:
            return EAGAIN;
        case NLE_INTR:
            return EINTR;
        case NLE_BAD_SOCK:
            return EBADF;
        case NLE_RANGE:
            return ERANGE;
        case NLE_AF_NOSUPPORT:
            return EAFNOSUPPORT;
        default:
            return EIO;
    }
}

// A connected NETLINK_ROUTE socket. It stays bound to the network namespace that was current
// when it was opened, whatever the thread does afterwards.
class RouteSocket {
  public:
    RouteSocket() : sock_(nl_socket_alloc()) {
        if (!sock_) throw make_error(ErrorKind::system, "nl_socket_alloc", ENOMEM);
        nl_socket_modify_err_cb(sock_, NL_CB_CUSTOM, &RouteSocket::keep_kernel_errno, this);
        if (int rc = nl_connect(sock_, NETLINK_ROUTE); rc < 0) {
            nl_socket_free(sock_);
            throw make_error(ErrorKind::system, "connect NETLINK_ROUTE socket",
                             errno_from_nlerr(rc));
        }
        // libnl 3.7 opens it with SOCK_CLOEXEC; make sure for older builds (rule 3).
        int fd = nl_socket_get_fd(sock_);
        int flags = ::fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC)) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    ~RouteSocket() { nl_socket_free(sock_); }
    RouteSocket(const RouteSocket&) = delete;  // the error callback points at this object
    RouteSocket& operator=(const RouteSocket&) = delete;

    nl_sock* get() const { return sock_; }

    // Runs one libnl request and returns 0 or the errno it failed with.
    template <typename Request>
    int run(Request request) {
        kernel_errno_ = 0;
        int rc = request(sock_);
        if (rc >= 0) return 0;
        return kernel_errno_ != 0 ? kernel_errno_ : errno_from_nlerr(rc);
    }

    template <typename Request>
    void run_or_throw(const std::string& what, Request request) {
        if (int err = run(request); err != 0) throw make_error(kind_for(err), what, err);
    }

  private:
    static int keep_kernel_errno(sockaddr_nl*, nlmsgerr* e, void* self) {
        static_cast<RouteSocket*>(self)->kernel_errno_ = -e->error;
        return NL_STOP;
    }

    nl_sock* sock_;
    int kernel_errno_ = 0;
};

// Opens a route socket inside the network namespace of pid. The caller (the per-container
// monitor) is single-threaded, so switching this thread's namespace for the few microseconds
// it takes to open the socket cannot be observed by another thread of ours; the namespace is
// restored on every path before returning.
std::unique_ptr<RouteSocket> route_socket_in_netns_of(pid_t pid) {
    const std::string target_path = "/proc/" + std::to_string(pid) + "/ns/net";
    Fd target(::open(target_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (target.get() < 0) {
        int err = errno;
        throw make_error(err == ENOENT ? ErrorKind::not_found : ErrorKind::system,
                         "open " + target_path, err);
    }
    Fd original(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (original.get() < 0) throw system_error("open /proc/thread-self/ns/net");
    if (::setns(target.get(), CLONE_NEWNET) < 0) throw system_error("setns " + target_path);

    struct RestoreNetns {
        int fd;
        ~RestoreNetns() {
            // Carrying on in the container's namespace would make every later "host" link,
            // address and route land inside the container: stopping is the only safe answer.
            if (::setns(fd, CLONE_NEWNET) < 0) {
                std::perror("truman: cannot return to the original network namespace");
                std::abort();
            }
        }
    } restore{original.get()};
    return std::make_unique<RouteSocket>();
}

int link_index(RouteSocket& sock, const std::string& name, const std::string& where) {
    rtnl_link* raw = nullptr;
    sock.run_or_throw("RTM_GETLINK " + name + where,
                      [&](nl_sock* s) { return rtnl_link_get_kernel(s, 0, name.c_str(), &raw); });
    LinkPtr link(raw);
    return rtnl_link_get_ifindex(link.get());
}

void set_up(RouteSocket& sock, const std::string& name, const std::string& where) {
    // ifindex 0 plus IFLA_IFNAME: the kernel looks the link up by name, no RTM_GETLINK first.
    LinkPtr orig(rtnl_link_alloc());
    LinkPtr change(rtnl_link_alloc());
    if (!orig || !change) throw make_error(ErrorKind::system, "rtnl_link_alloc", ENOMEM);
    rtnl_link_set_name(change.get(), name.c_str());
    rtnl_link_set_flags(change.get(), IFF_UP);
    sock.run_or_throw("set link " + name + " up" + where,
                      [&](nl_sock* s) { return rtnl_link_change(s, orig.get(), change.get(), 0); });
}

NlAddrPtr make_nl_addr(const std::array<std::uint8_t, 4>& bytes, unsigned prefix_length) {
    NlAddrPtr addr(nl_addr_build(AF_INET, bytes.data(), bytes.size()));
    if (!addr) throw make_error(ErrorKind::system, "nl_addr_build", ENOMEM);
    nl_addr_set_prefixlen(addr.get(), static_cast<int>(prefix_length));
    return addr;
}

void add_address(RouteSocket& sock, int ifindex, const Ipv4Cidr& cidr, const std::string& what) {
    AddrPtr addr(rtnl_addr_alloc());
    if (!addr) throw make_error(ErrorKind::system, "rtnl_addr_alloc", ENOMEM);
    NlAddrPtr local = make_nl_addr(cidr.address, cidr.prefix_length);
    rtnl_addr_set_ifindex(addr.get(), ifindex);
    rtnl_addr_set_family(addr.get(), AF_INET);
    if (int rc = rtnl_addr_set_local(addr.get(), local.get()); rc < 0)
        throw make_error(ErrorKind::system, what, errno_from_nlerr(rc));
    // IFA_BROADCAST as `ip addr add ... brd +` would; harmless for /31 and /32.
    std::array<std::uint8_t, 4> broadcast = cidr.address;
    for (unsigned bit = cidr.prefix_length; bit < 32; ++bit)
        broadcast[bit / 8] |= static_cast<std::uint8_t>(0x80u >> (bit % 8));
    if (cidr.prefix_length < 31) {
        NlAddrPtr brd = make_nl_addr(broadcast, 32);
        rtnl_addr_set_broadcast(addr.get(), brd.get());
    }
    sock.run_or_throw(what, [&](nl_sock* s) { return rtnl_addr_add(s, addr.get(), 0); });
}

void add_default_route(RouteSocket& sock, int ifindex, const std::array<std::uint8_t, 4>& gateway,
                       const std::string& what) {
    RoutePtr route(rtnl_route_alloc());
    if (!route) throw make_error(ErrorKind::system, "rtnl_route_alloc", ENOMEM);
    NlAddrPtr dst = make_nl_addr({0, 0, 0, 0}, 0);
    NlAddrPtr via = make_nl_addr(gateway, 32);
    rtnl_route_set_family(route.get(), AF_INET);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
    rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
    rtnl_route_set_type(route.get(), RTN_UNICAST);
    if (int rc = rtnl_route_set_dst(route.get(), dst.get()); rc < 0)
        throw make_error(ErrorKind::system, what, errno_from_nlerr(rc));
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (!nh) throw make_error(ErrorKind::system, "rtnl_route_nh_alloc", ENOMEM);
    rtnl_route_nh_set_ifindex(nh, ifindex);
    rtnl_route_nh_set_gateway(nh, via.get());
    rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh from here
    sock.run_or_throw(what, [&](nl_sock* s) { return rtnl_route_add(s, route.get(), NLM_F_EXCL); });
}

std::string in_pid(pid_t pid) {
    return " in pid " + std::to_string(pid);
}

std::string format_ipv4(const std::array<std::uint8_t, 4>& a) {
    return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
           std::to_string(a[3]);
}

void create_veth(const std::string& name, const std::string& peer_name, pid_t peer_pid,
                 const std::string& what) {
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
    RouteSocket sock;
    sock.run_or_throw(
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

const char* to_string(Network::Mode mode) noexcept {
    switch (mode) {
        case Network::Mode::none:
            return "none";
        case Network::Mode::loopback:
            return "loopback";
        case Network::Mode::veth:
            return "veth";
    }
    return "unknown";
}

Network::Mode network_mode_from_string(const std::string& name, const std::string& field) {
    for (auto mode : {Network::Mode::none, Network::Mode::loopback, Network::Mode::veth})
        if (name == to_string(mode)) return mode;
    throw invalid_argument(
        field, "unknown network mode \"" + name + "\" (expected none, loopback or veth)");
}

void validate_network(const ContainerSpec& spec) {
    const Network& net = spec.network;
    if (net.mode != Network::Mode::veth) {
        const std::pair<const std::string*, const char*> veth_only[] = {
            {&net.address, "truman.network.address"},
            {&net.gateway, "truman.network.gateway"},
            {&net.host_interface, "truman.network.hostInterface"}};
        for (const auto& [value, field] : veth_only)
            if (!value->empty()) throw invalid_argument(field, "only used with mode \"veth\"");
        return;
    }
    auto netns =
        std::find_if(spec.linux.namespaces.begin(), spec.linux.namespaces.end(),
                     [](const Namespace& ns) { return ns.type == NamespaceType::network; });
    if (netns == spec.linux.namespaces.end() || !netns->path.empty()) {
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
    Ipv4Cidr cidr = parse_ipv4_cidr(net.address, "truman.network.address");
    if (net.gateway.empty()) return;
    std::array<std::uint8_t, 4> gateway = parse_ipv4(net.gateway, "truman.network.gateway");
    auto host_order = [](const std::array<std::uint8_t, 4>& a) {
        return uint32_t{a[0]} << 24 | uint32_t{a[1]} << 16 | uint32_t{a[2]} << 8 | a[3];
    };
    // A default route needs its gateway on the link's subnet.
    uint32_t mask = ~uint32_t{0} << (32 - cidr.prefix_length);
    if ((host_order(gateway) & mask) != (host_order(cidr.address) & mask)) {
        throw invalid_argument("truman.network.gateway",
                               net.gateway + " is not in the subnet of " + net.address);
    }
    if (gateway == cidr.address)
        throw invalid_argument("truman.network.gateway", "must differ from the address");
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

std::string setup_network(pid_t pid, const Network& net, const std::string& container_id) {
    switch (net.mode) {
        case Network::Mode::none:
            return "";
        case Network::Mode::loopback:
            configure_container_network(pid, "", "", "");
            return "";
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
