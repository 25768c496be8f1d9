#include "truman/daemon/ipam.hpp"

#include <arpa/inet.h>

#include <fstream>
#include <sstream>

#include "truman/error.hpp"
#include "truman/network.hpp"

namespace truman::daemon::ipam {

namespace {

uint32_t host_order(const std::array<std::uint8_t, 4>& a) {
    return uint32_t{a[0]} << 24 | uint32_t{a[1]} << 16 | uint32_t{a[2]} << 8 | a[3];
}

// Host addresses: not the subnet's own address nor its broadcast address.
bool is_host_address(const Subnet& subnet, uint32_t address) {
    return subnet.contains(address) && address != subnet.base && address != subnet.broadcast();
}

}  // namespace

Subnet parse_subnet(const std::string& text, const std::string& field) {
    // The CIDR syntax is core's (network.cpp); the network rules are ours.
    Ipv4Cidr cidr = parse_ipv4_cidr(text, field);
    if (cidr.prefix_length < min_network_prefix || cidr.prefix_length > max_network_prefix)
        throw invalid_argument(field, "\"" + text + "\": a network's prefix must be /" +
                                          std::to_string(min_network_prefix) + "../" +
                                          std::to_string(max_network_prefix));
    Subnet subnet{host_order(cidr.address), cidr.prefix_length};
    if ((subnet.base & ~subnet.mask()) != 0) {
        Subnet meant{subnet.base & subnet.mask(), subnet.prefix};
        throw invalid_argument(field, "\"" + text + "\" has host bits set (did you mean " +
                                          format_subnet(meant) + "?)");
    }
    return subnet;
}

uint32_t parse_address(const std::string& text, const std::string& field) {
    return host_order(parse_ipv4(text, field));
}

std::string format_address(uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
           std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff);
}

std::string format_subnet(const Subnet& subnet) {
    return format_address(subnet.base) + "/" + std::to_string(subnet.prefix);
}

bool overlaps(const Subnet& a, const Subnet& b) {
    // Two CIDR blocks overlap exactly when one contains the other's base.
    return a.contains(b.base) || b.contains(a.base);
}

void check_no_overlap(const Subnet& subnet, const std::vector<TakenSubnet>& taken) {
    for (const auto& t : taken)
        if (overlaps(subnet, t.subnet))
            throw Error(ErrorKind::conflict, EEXIST,
                        "subnet " + format_subnet(subnet) + " overlaps " + t.holder + " (" +
                            format_subnet(t.subnet) + ")");
}

Subnet choose_subnet(const Subnet& pool, unsigned prefix, const std::vector<TakenSubnet>& taken) {
    if (prefix < pool.prefix || prefix > max_network_prefix)
        throw invalid_argument("network pool", "a /" + std::to_string(prefix) +
                                                   " does not fit in " + format_subnet(pool));
    const uint64_t step = uint64_t{1} << (32 - prefix);
    for (uint64_t base = pool.base; base <= pool.broadcast(); base += step) {
        Subnet candidate{static_cast<uint32_t>(base), prefix};
        bool free = true;
        for (const auto& t : taken) {
            if (!overlaps(candidate, t.subnet)) continue;
            free = false;
            // Skip past whatever holds it when that is larger than one step.
            uint64_t next = uint64_t{t.subnet.broadcast()} + 1;
            if (next > base + step) base = ((next + step - 1) / step) * step - step;
            break;
        }
        if (free) return candidate;
    }
    throw Error(ErrorKind::conflict, ENOSPC,
                "the network pool " + format_subnet(pool) + " has no free /" +
                    std::to_string(prefix) + " left");
}

uint32_t default_gateway(const Subnet& subnet) {
    return subnet.base + 1;
}

void check_gateway(const Subnet& subnet, uint32_t gateway, const std::string& field) {
    if (!is_host_address(subnet, gateway))
        throw invalid_argument(
            field, format_address(gateway) + " is not a host address of " + format_subnet(subnet));
}

uint32_t next_free_address(const Subnet& subnet, uint32_t gateway, const std::set<uint32_t>& used,
                           const std::string& network) {
    for (uint64_t a = uint64_t{subnet.base} + 1; a < subnet.broadcast(); ++a) {
        auto address = static_cast<uint32_t>(a);
        if (address != gateway && !used.count(address)) return address;
    }
    throw Error(ErrorKind::conflict, ENOSPC,
                "network " + network + ": subnet " + format_subnet(subnet) + " is exhausted");
}

void check_requested_address(const Subnet& subnet, uint32_t gateway, uint32_t address,
                             const std::set<uint32_t>& used, const std::string& network,
                             const std::string& field) {
    if (!is_host_address(subnet, address))
        throw invalid_argument(field, format_address(address) + " is not a host address of " +
                                          "network " + network + " (" + format_subnet(subnet) +
                                          ")");
    if (address == gateway)
        throw invalid_argument(field,
                               format_address(address) + " is the gateway of network " + network);
    if (used.count(address))
        throw Error(ErrorKind::conflict, EADDRINUSE,
                    "address " + format_address(address) + " is taken on network " + network);
}

std::vector<TakenSubnet> host_routes(const std::string& proc_net_route,
                                     const std::set<std::string>& skip_devices) {
    // Iface Destination Gateway Flags RefCnt Use Metric Mask ...; addresses are the kernel's
    // __be32 printed with %08X, i.e. little-endian hex on x86.
    std::ifstream in(proc_net_route);
    if (!in) throw make_error(ErrorKind::system, "open " + proc_net_route, errno);
    std::vector<TakenSubnet> out;
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string iface, dest, gateway, flags, refcnt, use, metric, mask;
        if (!(fields >> iface >> dest >> gateway >> flags >> refcnt >> use >> metric >> mask))
            continue;
        if (skip_devices.count(iface)) continue;
        auto from_kernel_hex = [](const std::string& hex) {
            auto le = static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
            return ntohl(le);
        };
        uint32_t m = from_kernel_hex(mask);
        if (m == 0) continue;  // a default route overlaps everything by design
        unsigned prefix = static_cast<unsigned>(__builtin_popcount(m));
        Subnet s{from_kernel_hex(dest) & m, prefix};
        out.push_back({s, "the host's route " + format_subnet(s) + " dev " + iface});
    }
    return out;
}

// IPv6: the same rules on 128 bits.

namespace {

Address6 from_bytes(const std::array<std::uint8_t, 16>& bytes) {
    Address6 a = 0;
    for (auto b : bytes) a = a << 8 | b;
    return a;
}

std::array<std::uint8_t, 16> to_bytes(Address6 a) {
    std::array<std::uint8_t, 16> out{};
    for (int i = 15; i >= 0; --i, a >>= 8) out[static_cast<size_t>(i)] = static_cast<uint8_t>(a);
    return out;
}

bool is_host_address(const Subnet6& subnet, Address6 address) {
    return subnet.contains(address) && address != subnet.base;
}

// Blocks no network's subnet may touch.
const std::vector<TakenSubnet6>& reserved6() {
    static const std::vector<TakenSubnet6> blocks = {
        {parse_subnet6_unchecked("::/8"), "::/8 (loopback, IPv4-mapped and reserved addresses)"},
        {parse_subnet6_unchecked("fe80::/10"), "the link-local block fe80::/10"},
        {parse_subnet6_unchecked("ff00::/8"), "the multicast block ff00::/8"}};
    return blocks;
}

}  // namespace

Subnet6 parse_subnet6_unchecked(const std::string& text) {
    Ipv6Cidr cidr = parse_ipv6_cidr(text, "subnet6");
    return {from_bytes(cidr.address), cidr.prefix_length};
}

Subnet6 parse_subnet6(const std::string& text, const std::string& field) {
    Ipv6Cidr cidr = parse_ipv6_cidr(text, field);
    if (cidr.prefix_length > max_network_prefix6)
        throw invalid_argument(field, "\"" + text + "\": a network's prefix must be /1../" +
                                          std::to_string(max_network_prefix6));
    Subnet6 subnet{from_bytes(cidr.address), cidr.prefix_length};
    if ((subnet.base & ~subnet.mask()) != 0) {
        Subnet6 meant{subnet.base & subnet.mask(), subnet.prefix};
        throw invalid_argument(field, "\"" + text + "\" has host bits set (did you mean " +
                                          format_subnet6(meant) + "?)");
    }
    for (const auto& r : reserved6())
        if (overlaps(subnet, r.subnet))
            throw invalid_argument(field, "\"" + text + "\" overlaps " + r.holder);
    return subnet;
}

Address6 parse_address6(const std::string& text, const std::string& field) {
    return from_bytes(parse_ipv6(text, field));
}

std::string format_address6(Address6 address) {
    auto bytes = to_bytes(address);
    char text[INET6_ADDRSTRLEN];
    ::inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
    return text;
}

std::string format_subnet6(const Subnet6& subnet) {
    return format_address6(subnet.base) + "/" + std::to_string(subnet.prefix);
}

bool overlaps(const Subnet6& a, const Subnet6& b) {
    return a.contains(b.base) || b.contains(a.base);
}

void check_no_overlap(const Subnet6& subnet, const std::vector<TakenSubnet6>& taken) {
    for (const auto& t : taken)
        if (overlaps(subnet, t.subnet))
            throw Error(ErrorKind::conflict, EEXIST,
                        "subnet6 " + format_subnet6(subnet) + " overlaps " + t.holder + " (" +
                            format_subnet6(t.subnet) + ")");
}

Subnet6 choose_subnet(const Subnet6& pool, unsigned prefix,
                      const std::vector<TakenSubnet6>& taken) {
    if (prefix < pool.prefix || prefix > max_network_prefix6)
        throw invalid_argument("network pool6", "a /" + std::to_string(prefix) +
                                                    " does not fit in " + format_subnet6(pool));
    const Address6 step = Address6{1} << (128 - prefix);
    const Address6 last = pool.last() & ~(step - 1);  // the pool's last candidate
    Address6 base = pool.base;
    while (true) {
        Subnet6 candidate{base, prefix};
        const TakenSubnet6* holder = nullptr;
        for (const auto& t : taken)
            if (overlaps(candidate, t.subnet)) holder = &t;
        if (!holder) return candidate;
        // Past whatever holds it (which may be larger than one step); no wrap at the top.
        const Address6 end = holder->subnet.last() | (step - 1);
        if (end >= last) break;
        base = end + 1;
    }
    throw Error(ErrorKind::conflict, ENOSPC,
                "the network pool6 " + format_subnet6(pool) + " has no free /" +
                    std::to_string(prefix) + " left");
}

Address6 default_gateway(const Subnet6& subnet) {
    return subnet.base + 1;
}

void check_gateway(const Subnet6& subnet, Address6 gateway, const std::string& field) {
    if (!is_host_address(subnet, gateway))
        throw invalid_argument(field, format_address6(gateway) + " is not a host address of " +
                                          format_subnet6(subnet));
}

Address6 next_free_address(const Subnet6& subnet, Address6 gateway, const std::set<Address6>& used,
                           const std::string& network) {
    // At most used.size() + 2 steps: the loop ends at the first address nobody holds.
    for (Address6 a = subnet.base + 1; subnet.contains(a) && a != 0; ++a)
        if (a != gateway && !used.count(a)) return a;
    throw Error(ErrorKind::conflict, ENOSPC,
                "network " + network + ": subnet6 " + format_subnet6(subnet) + " is exhausted");
}

void check_requested_address(const Subnet6& subnet, Address6 gateway, Address6 address,
                             const std::set<Address6>& used, const std::string& network,
                             const std::string& field) {
    if (!is_host_address(subnet, address))
        throw invalid_argument(field, format_address6(address) + " is not a host address of " +
                                          "network " + network + " (" + format_subnet6(subnet) +
                                          ")");
    if (address == gateway)
        throw invalid_argument(field,
                               format_address6(address) + " is the gateway of network " + network);
    if (used.count(address))
        throw Error(ErrorKind::conflict, EADDRINUSE,
                    "address " + format_address6(address) + " is taken on network " + network);
}

std::vector<TakenSubnet6> host_routes6(const std::string& proc_net_ipv6_route,
                                       const std::set<std::string>& skip_devices) {
    // dest(32 hex) dest_len(2 hex) src src_len next_hop metric refcnt use flags device
    std::ifstream in(proc_net_ipv6_route);
    if (!in) {
        if (errno == ENOENT) return {};
        throw make_error(ErrorKind::system, "open " + proc_net_ipv6_route, errno);
    }
    std::vector<TakenSubnet6> out;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string dest, len, src, src_len, via, metric, refcnt, use, flags, iface;
        if (!(fields >> dest >> len >> src >> src_len >> via >> metric >> refcnt >> use >> flags >>
              iface))
            continue;
        if (dest.size() != 32 || iface == "lo" || skip_devices.count(iface)) continue;
        unsigned prefix = static_cast<unsigned>(std::stoul(len, nullptr, 16));
        if (prefix == 0 || prefix >= 128) continue;  // default routes, the host's own addresses
        Address6 a = 0;
        for (size_t i = 0; i < 32; i += 8)
            a = a << 32 | static_cast<Address6>(std::stoul(dest.substr(i, 8), nullptr, 16));
        Subnet6 s{a, prefix};
        s.base &= s.mask();
        bool reserved = false;
        for (const auto& r : reserved6()) reserved = reserved || overlaps(s, r.subnet);
        if (reserved) continue;  // link-local and multicast routes every device has
        out.push_back({s, "the host's route " + format_subnet6(s) + " dev " + iface});
    }
    return out;
}

}  // namespace truman::daemon::ipam
