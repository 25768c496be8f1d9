// rtnetlink through libnl-route-3, shared by the files of core that talk to it (network.cpp:
// veths and container addresses; bridge.cpp: bridges).
//
// libnl folds the kernel's errno into its own NLE_* codes, and several errnos share one code
// (ESRCH and ENOENT both become NLE_OBJ_NOTFOUND). Each RouteSocket therefore installs an error
// callback that keeps the errno the kernel put in NLMSG_ERROR, so messages and Error::err() say
// what the kernel said.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "truman/error.hpp"
#include "truman/fd.hpp"
#include "truman/network.hpp"

namespace truman::rtnl {

template <typename T, void (*Free)(T*)>
struct NlFree {
    void operator()(T* p) const { Free(p); }
};
using LinkPtr = std::unique_ptr<rtnl_link, NlFree<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, NlFree<rtnl_addr, rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, NlFree<rtnl_route, rtnl_route_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlFree<nl_addr, nl_addr_put>>;

inline ErrorKind kind_for(int err) {
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
inline int errno_from_nlerr(int nlerr) {
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
// net.ipv6.conf.<dev>.accept_ra=0 for each of devices (the namespace's own dir /proc/sys/net
// is the calling thread's namespace's): truman's bridges and the containers' ends have static
// addresses and routes, so a router advertisement sent by a container on the bridge must not
// give the host or the other containers a route or an address through it (CVE-2020-13401). A
// missing file (IPv6 disabled) is not an error.
inline void disable_router_advertisements(const std::vector<std::string>& devices,
                                          const std::string& where) {
    for (const auto& dev : devices) {
        std::string path = "/proc/sys/net/ipv6/conf/";
        path += dev;
        path += "/accept_ra";
        Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        const char* failed = nullptr;
        if (fd.get() < 0) {
            if (errno == ENOENT) continue;
            failed = "open ";
        } else if (::write(fd.get(), "0\n", 2) != 2) {
            failed = "write 0 to ";
        }
        if (failed) {
            int err = errno;
            std::string what = failed;
            what += path;
            what += where;
            throw make_error(ErrorKind::system, what, err);
        }
    }
}

// A route socket inside the network namespace of pid, and accept_ra=0 there for each of
// no_ra_devices (disable_router_advertisements) while this thread is in it: one trip in and
// out for both.
inline std::unique_ptr<RouteSocket> route_socket_in_netns_of(
    pid_t pid, const std::vector<std::string>& no_ra_devices = {}, const std::string& where = "") {
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
    disable_router_advertisements(no_ra_devices, where);
    return std::make_unique<RouteSocket>();
}

inline int link_index(RouteSocket& sock, const std::string& name, const std::string& where) {
    rtnl_link* raw = nullptr;
    sock.run_or_throw("RTM_GETLINK " + name + where,
                      [&](nl_sock* s) { return rtnl_link_get_kernel(s, 0, name.c_str(), &raw); });
    LinkPtr link(raw);
    return rtnl_link_get_ifindex(link.get());
}

inline void set_up(RouteSocket& sock, const std::string& name, const std::string& where) {
    // ifindex 0 plus IFLA_IFNAME: the kernel looks the link up by name, no RTM_GETLINK first.
    LinkPtr orig(rtnl_link_alloc());
    LinkPtr change(rtnl_link_alloc());
    if (!orig || !change) throw make_error(ErrorKind::system, "rtnl_link_alloc", ENOMEM);
    rtnl_link_set_name(change.get(), name.c_str());
    rtnl_link_set_flags(change.get(), IFF_UP);
    sock.run_or_throw("set link " + name + " up" + where,
                      [&](nl_sock* s) { return rtnl_link_change(s, orig.get(), change.get(), 0); });
}

inline NlAddrPtr make_nl_addr(const std::array<std::uint8_t, 4>& bytes, unsigned prefix_length) {
    NlAddrPtr addr(nl_addr_build(AF_INET, bytes.data(), bytes.size()));
    if (!addr) throw make_error(ErrorKind::system, "nl_addr_build", ENOMEM);
    nl_addr_set_prefixlen(addr.get(), static_cast<int>(prefix_length));
    return addr;
}

inline void add_address(RouteSocket& sock, int ifindex, const Ipv4Cidr& cidr,
                        const std::string& what) {
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

// IPv6, with IFA_F_NODAD: the address is usable at once instead of tentative for the second
// duplicate address detection takes (an address the daemon leased is unique by construction).
inline void add_address6(RouteSocket& sock, int ifindex, const Ipv6Cidr& cidr,
                         const std::string& what) {
    AddrPtr addr(rtnl_addr_alloc());
    if (!addr) throw make_error(ErrorKind::system, "rtnl_addr_alloc", ENOMEM);
    NlAddrPtr local(nl_addr_build(AF_INET6, cidr.address.data(), cidr.address.size()));
    if (!local) throw make_error(ErrorKind::system, "nl_addr_build", ENOMEM);
    nl_addr_set_prefixlen(local.get(), static_cast<int>(cidr.prefix_length));
    rtnl_addr_set_ifindex(addr.get(), ifindex);
    rtnl_addr_set_family(addr.get(), AF_INET6);
    rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
    if (int rc = rtnl_addr_set_local(addr.get(), local.get()); rc < 0)
        throw make_error(ErrorKind::system, what, errno_from_nlerr(rc));
    sock.run_or_throw(what, [&](nl_sock* s) { return rtnl_addr_add(s, addr.get(), 0); });
}

// The default route of family (AF_INET, AF_INET6) via gateway (dst and via built by the
// callers below) on ifindex. The kernel refuses it while the link is down (ENETDOWN).
inline void add_default_route_via(RouteSocket& sock, int family, int ifindex, NlAddrPtr dst,
                                  NlAddrPtr via, const std::string& what) {
    if (!dst || !via) throw make_error(ErrorKind::system, "nl_addr_build", ENOMEM);
    RoutePtr route(rtnl_route_alloc());
    if (!route) throw make_error(ErrorKind::system, "rtnl_route_alloc", ENOMEM);
    rtnl_route_set_family(route.get(), static_cast<uint8_t>(family));
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

// ::/0 via gateway on ifindex.
inline void add_default_route6(RouteSocket& sock, int ifindex,
                               const std::array<std::uint8_t, 16>& gateway,
                               const std::string& what) {
    const std::array<std::uint8_t, 16> any{};
    NlAddrPtr dst(nl_addr_build(AF_INET6, any.data(), any.size()));
    NlAddrPtr via(nl_addr_build(AF_INET6, gateway.data(), gateway.size()));
    if (dst) nl_addr_set_prefixlen(dst.get(), 0);
    if (via) nl_addr_set_prefixlen(via.get(), 128);
    add_default_route_via(sock, AF_INET6, ifindex, std::move(dst), std::move(via), what);
}

// 0.0.0.0/0 via gateway on ifindex.
inline void add_default_route(RouteSocket& sock, int ifindex,
                              const std::array<std::uint8_t, 4>& gateway, const std::string& what) {
    add_default_route_via(sock, AF_INET, ifindex, make_nl_addr({0, 0, 0, 0}, 0),
                          make_nl_addr(gateway, 32), what);
}

inline std::string in_pid(pid_t pid) {
    return " in pid " + std::to_string(pid);
}

inline std::string format_ipv4(const std::array<std::uint8_t, 4>& a) {
    return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
           std::to_string(a[3]);
}

}  // namespace truman::rtnl
