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

}  // namespace truman::daemon::ipam
