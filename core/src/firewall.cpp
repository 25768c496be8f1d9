// nftables through libnftables' JSON input (libnftables-json(5)): names and prefixes are
// JSON strings, never spliced into nft's own syntax, so a bridge name cannot inject a rule.
#include "truman/firewall.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "truman/error.hpp"
#include "truman/fd.hpp"
#include "truman/network.hpp"

namespace truman {

namespace {

using nlohmann::json;

json table_object() {
    return {{"family", "inet"}, {"name", firewall_table}};
}

json chain(const std::string& name, const std::string& type, const std::string& hook, int prio) {
    return {{"add",
             {{"chain",
               {{"family", "inet"},
                {"table", firewall_table},
                {"name", name},
                {"type", type},
                {"hook", hook},
                {"prio", prio},
                {"policy", "accept"}}}}}};
}

json rule(const std::string& chain_name, const std::string& comment, json expr) {
    return {{"add",
             {{"rule",
               {{"family", "inet"},
                {"table", firewall_table},
                {"chain", chain_name},
                {"comment", comment},
                {"expr", std::move(expr)}}}}}};
}

json match(const char* op, json left, json right) {
    return {{"match", {{"op", op}, {"left", std::move(left)}, {"right", std::move(right)}}}};
}

json meta(const char* key) {
    return {{"meta", {{"key", key}}}};
}

// json: the batch is JSON. libnftables 1.0.6 (Debian 12) has no input flag yet: it parses a
// buffer as JSON only while its output is JSON, and falls back to nft syntax otherwise.
std::string run_nft(const std::string& batch, const std::string& what, bool json_input) {
    std::unique_ptr<nft_ctx, void (*)(nft_ctx*)> ctx(nft_ctx_new(NFT_CTX_DEFAULT), nft_ctx_free);
    if (!ctx) throw make_error(ErrorKind::system, "nft_ctx_new", ENOMEM);
    if (json_input) nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON);
    nft_ctx_buffer_output(ctx.get());
    nft_ctx_buffer_error(ctx.get());
    if (nft_run_cmd_from_buffer(ctx.get(), batch.c_str()) != 0) {
        std::string message = nft_ctx_get_error_buffer(ctx.get());
        while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
            message.pop_back();
        throw make_error(ErrorKind::system, what + ": " + message, EINVAL);
    }
    return nft_ctx_get_output_buffer(ctx.get());
}

json ipv4_text(const Ipv4Cidr& cidr) {
    char address[16];
    std::snprintf(address, sizeof address, "%u.%u.%u.%u", cidr.address[0], cidr.address[1],
                  cidr.address[2], cidr.address[3]);
    return address;
}

json prefix_of(const std::string& cidr_text, const std::string& what) {
    Ipv4Cidr cidr = parse_ipv4_cidr(cidr_text, what);
    return {{"prefix", {{"addr", ipv4_text(cidr)}, {"len", cidr.prefix_length}}}};
}

// The canonical text (inet_ntop) of an IPv6 address or of a CIDR's address, with its length.
std::string ipv6_text(const std::array<std::uint8_t, 16>& address) {
    char text[INET6_ADDRSTRLEN];
    ::inet_ntop(AF_INET6, address.data(), text, sizeof text);
    return text;
}

json prefix6_of(const std::string& cidr_text, const std::string& what) {
    Ipv6Cidr cidr = parse_ipv6_cidr(cidr_text, what);
    return {{"prefix", {{"addr", ipv6_text(cidr.address)}, {"len", cidr.prefix_length}}}};
}

// The IPv6 rules of one published port (host_ip "", 0.0.0.0, :: or an IPv6 address).
void add_port_forward6(json& cmds, const PortForward& p, const std::string& what) {
    const std::string container = ipv6_text(parse_ipv6(p.container_address6, what));
    json dport = {{"payload", {{"protocol", p.proto}, {"field", "dport"}}}};
    json daddr = {{"payload", {{"protocol", "ip6"}, {"field", "daddr"}}}};
    json saddr = {{"payload", {{"protocol", "ip6"}, {"field", "saddr"}}}};
    json ipv6 = match("==", meta("nfproto"), "ipv6");
    const bool every = p.host_ip.empty() || p.host_ip == "0.0.0.0" || p.host_ip == "::";
    json to_host = json::array();
    if (every) {
        to_host.push_back(match(
            "==", {{"fib", {{"result", "type"}, {"flags", json::array({"daddr"})}}}}, "local"));
        // ::1 cannot be DNATed (no route_localnet for IPv6): left to the held socket, which
        // refuses it, rather than sent out with a source the bridge drops.
        to_host.push_back(match("!=", daddr, "::1"));
    } else {
        to_host.push_back(match("==", daddr, ipv6_text(parse_ipv6(p.host_ip, what))));
    }
    json dnat = {{"dnat", {{"family", "ip6"}, {"addr", container}, {"port", p.container_port}}}};
    for (const char* chain_name : {"prerouting", "output"}) {
        json expr = json::array({ipv6});
        for (const auto& m : to_host) expr.push_back(m);
        expr.push_back(match("==", dport, p.host_port));
        expr.push_back(dnat);
        cmds.push_back(rule(chain_name, what + " (IPv6)", std::move(expr)));
    }
    if (p.subnet6.empty()) return;
    cmds.push_back(rule("postrouting", what + " (IPv6 hairpin)",
                        {ipv6,
                         match("==", meta("oifname"), p.bridge),
                         match("in", {{"ct", {{"key", "status"}}}}, "dnat"),
                         match("==", saddr, prefix6_of(p.subnet6, "subnet6 of " + p.owner)),
                         match("==", daddr, container),
                         match("==", dport, p.container_port),
                         {{"masquerade", nullptr}}}));
}

// The rules of one published port (firewall.hpp says which and why).
void add_port_forward(json& cmds, const PortForward& p) {
    validate_link_name(p.bridge, "bridge of " + p.owner);
    if (p.proto != "tcp" && p.proto != "udp")
        throw invalid_argument("proto", "tcp or udp, not " + p.proto);
    const std::string what = p.owner + " " + std::to_string(p.host_port) + "/" + p.proto;
    const bool host_ip6 = p.host_ip.find(':') != std::string::npos;
    if (host_ip6 && p.container_address6.empty())
        throw invalid_argument(
            "host_ip", what + ": " + p.host_ip + " is IPv6 and the container has no IPv6 address");
    if (!p.container_address6.empty() && (host_ip6 || p.host_ip.empty() || p.host_ip == "0.0.0.0"))
        add_port_forward6(cmds, p, what);
    if (host_ip6) return;
    const std::string container = ipv4_text(parse_ipv4_cidr(p.container_address + "/32", what));
    json bridge = p.bridge;
    json dport = {{"payload", {{"protocol", p.proto}, {"field", "dport"}}}};
    json daddr = {{"payload", {{"protocol", "ip"}, {"field", "daddr"}}}};
    json saddr = {{"payload", {{"protocol", "ip"}, {"field", "saddr"}}}};
    json ipv4 = match("==", meta("nfproto"), "ipv4");
    json to_host =
        p.host_ip.empty() || p.host_ip == "0.0.0.0"
            ? match("==", {{"fib", {{"result", "type"}, {"flags", json::array({"daddr"})}}}},
                    "local")
            : match("==", daddr, ipv4_text(parse_ipv4_cidr(p.host_ip + "/32", what)));
    json dnat = {{"dnat", {{"family", "ip"}, {"addr", container}, {"port", p.container_port}}}};
    for (const char* chain_name : {"prerouting", "output"})
        cmds.push_back(
            rule(chain_name, what, {ipv4, to_host, match("==", dport, p.host_port), dnat}));
    json sources = {{"set", json::array({prefix_of("127.0.0.0/8", what),
                                         prefix_of(p.subnet, "subnet of " + p.owner)})}};
    cmds.push_back(rule("postrouting", what + " (hairpin, localhost)",
                        {ipv4,
                         match("==", meta("oifname"), bridge),
                         match("in", {{"ct", {{"key", "status"}}}}, "dnat"),
                         match("==", saddr, sources),
                         match("==", daddr, container),
                         match("==", dport, p.container_port),
                         {{"masquerade", nullptr}}}));
}

// The guard of each bridge with published ports: route_localnet on it must not let what
// comes from its containers reach the host's 127/8.
void add_localnet_guards(json& cmds, const std::vector<PortForward>& ports) {
    std::set<std::string> bridges;
    for (const auto& p : ports) bridges.insert(p.bridge);
    json daddr = {{"payload", {{"protocol", "ip"}, {"field", "daddr"}}}};
    for (const auto& b : bridges)
        cmds.push_back(rule("guard", "bridge " + b + " (route_localnet)",
                            {match("==", meta("nfproto"), "ipv4"),
                             match("==", meta("iifname"), b),
                             match("==", daddr, prefix_of("127.0.0.0/8", "loopback")),
                             {{"drop", nullptr}}}));
}

// A network's DNS server answers its own bridge (and the host) only.
void add_dns_guard(json& cmds, const NatNetwork& n) {
    if (n.dns_address.empty()) return;
    const std::string what = "network " + n.name + " (dns)";
    json allowed = {{"set", json::array({n.bridge, "lo"})}};
    std::vector<std::array<std::string, 3>> servers = {
        {"ipv4", "ip", ipv4_text(parse_ipv4_cidr(n.dns_address + "/32", what))}};
    if (!n.dns_address6.empty())
        servers.push_back({"ipv6", "ip6", ipv6_text(parse_ipv6(n.dns_address6, what))});
    for (const auto& [family, protocol, server] : servers) {
        json daddr = {{"payload", {{"protocol", protocol}, {"field", "daddr"}}}};
        for (const char* proto : {"udp", "tcp"})
            cmds.push_back(
                rule("input", what,
                     {match("==", meta("nfproto"), family),
                      match("==", daddr, server),
                      match("==", {{"payload", {{"protocol", proto}, {"field", "dport"}}}}, 53),
                      match("!=", meta("iifname"), allowed),
                      {{"drop", nullptr}}}));
    }
}

// firewall.hpp's guard of IPv6 forwarding: after the drops above (internal, isolated), what
// truman's bridges send or receive and what answers a connection is accepted, any other
// forwarded IPv6 dropped. (An accept ends this chain only: other tables still decide.)
void add_ipv6_forwarding_guard(json& cmds, const std::vector<NatNetwork>& networks) {
    json ipv6 = match("==", meta("nfproto"), "ipv6");
    cmds.push_back(
        rule("forward", ipv6_forwarding_guard,
             {ipv6,
              match("in", {{"ct", {{"key", "state"}}}}, json::array({"established", "related"})),
              {{"accept", nullptr}}}));
    json bridges = json::array();
    for (const auto& n : networks) bridges.push_back(n.bridge);
    if (!bridges.empty()) {
        for (const char* key : {"iifname", "oifname"})
            cmds.push_back(
                rule("forward", ipv6_forwarding_guard,
                     {ipv6, match("==", meta(key), {{"set", bridges}}), {{"accept", nullptr}}}));
    }
    cmds.push_back(rule("forward", ipv6_forwarding_guard, {ipv6, {{"drop", nullptr}}}));
}

}  // namespace

std::string firewall_batch(const std::vector<NatNetwork>& networks,
                           const std::vector<PortForward>& ports, bool guard_ipv6_forwarding) {
    json cmds = json::array();
    // add + delete + add: one transaction that works whether or not the table exists, and
    // leaves exactly what follows (the kernel applies the batch whole or not at all).
    cmds.push_back({{"add", {{"table", table_object()}}}});
    cmds.push_back({{"delete", {{"table", table_object()}}}});
    cmds.push_back({{"add", {{"table", table_object()}}}});
    cmds.push_back(chain("postrouting", "nat", "postrouting", 100));  // srcnat
    cmds.push_back(chain("forward", "filter", "forward", 0));         // filter
    bool dns = std::any_of(networks.begin(), networks.end(),
                           [](const NatNetwork& n) { return !n.dns_address.empty(); });
    if (dns) cmds.push_back(chain("input", "filter", "input", 0));  // filter
    if (!ports.empty()) {
        cmds.push_back(chain("guard", "filter", "prerouting", -300));    // raw
        cmds.push_back(chain("prerouting", "nat", "prerouting", -100));  // dstnat
        cmds.push_back(chain("output", "nat", "output", -100));          // dstnat
    }
    for (const auto& n : networks) {
        Ipv4Cidr cidr = parse_ipv4_cidr(n.subnet, "subnet of network " + n.name);
        validate_link_name(n.bridge, "bridge of network " + n.name);
        const std::string comment = "network " + n.name;
        json bridge = n.bridge;
        if (n.internal) {
            // Nothing in or out through another device; the bridge itself still switches.
            cmds.push_back(rule("forward", comment + " (internal)",
                                {match("==", meta("iifname"), bridge),
                                 match("!=", meta("oifname"), bridge),
                                 {{"drop", nullptr}}}));
            cmds.push_back(rule("forward", comment + " (internal)",
                                {match("==", meta("oifname"), bridge),
                                 match("!=", meta("iifname"), bridge),
                                 {{"drop", nullptr}}}));
            continue;
        }
        char address[16];
        std::snprintf(address, sizeof address, "%u.%u.%u.%u", cidr.address[0], cidr.address[1],
                      cidr.address[2], cidr.address[3]);
        json saddr = {{"payload", {{"protocol", "ip"}, {"field", "saddr"}}}};
        json prefix = {{"prefix", {{"addr", address}, {"len", cidr.prefix_length}}}};
        cmds.push_back(rule("postrouting", comment,
                            {match("==", saddr, prefix),
                             match("!=", meta("oifname"), bridge),
                             {{"masquerade", nullptr}}}));
        if (n.subnet6.empty()) continue;
        json saddr6 = {{"payload", {{"protocol", "ip6"}, {"field", "saddr"}}}};
        cmds.push_back(rule("postrouting", comment + " (IPv6)",
                            {match("==", saddr6, prefix6_of(n.subnet6, "subnet6 of " + comment)),
                             match("!=", meta("oifname"), bridge),
                             {{"masquerade", nullptr}}}));
    }
    for (const auto& n : networks) add_dns_guard(cmds, n);
    for (const auto& p : ports) add_port_forward(cmds, p);
    add_localnet_guards(cmds, ports);
    // Isolation: nothing is routed from one of our bridges to another (internal networks drop
    // it above already). The bridges themselves still switch their own traffic.
    for (const auto& n : networks) {
        json others = json::array();
        for (const auto& o : networks)
            if (o.bridge != n.bridge) others.push_back(o.bridge);
        if (others.empty() || n.internal) continue;
        cmds.push_back(rule("forward", "network " + n.name + " (isolated)",
                            {match("==", meta("iifname"), n.bridge),
                             match("==", meta("oifname"), {{"set", std::move(others)}}),
                             {{"drop", nullptr}}}));
    }
    if (guard_ipv6_forwarding) add_ipv6_forwarding_guard(cmds, networks);
    return json{{"nftables", std::move(cmds)}}.dump();
}

void apply_firewall(const std::vector<NatNetwork>& networks, const std::vector<PortForward>& ports,
                    bool guard_ipv6_forwarding) {
    run_nft(firewall_batch(networks, ports, guard_ipv6_forwarding),
            "nftables: rebuild table inet truman", true);
}

bool firewall_guards_ipv6_forwarding() {
    return list_firewall().find(ipv6_forwarding_guard) != std::string::npos;
}

void remove_firewall() {
    json cmds = json::array({json{{"add", {{"table", table_object()}}}},
                             json{{"delete", {{"table", table_object()}}}}});
    run_nft(json{{"nftables", std::move(cmds)}}.dump(), "nftables: delete table inet truman", true);
}

std::string list_firewall() {
    try {
        return run_nft("list table inet truman", "nftables: list table inet truman", false);
    } catch (const Error& e) {
        if (std::string(e.what()).find("No such file or directory") != std::string::npos) return "";
        throw;
    }
}

namespace {

void set_conf_switch(const std::set<std::string>& devices, const std::string& proc_sys,
                     const char* name) {
    for (const auto& dev : devices) {
        validate_link_name(dev, std::string(name) + " device");
        std::string path = proc_sys;
        path.append("/net/ipv4/conf/").append(dev).append("/").append(name);
        Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT) continue;
            throw system_error("open " + path);
        }
        if (::write(fd.get(), "1\n", 2) != 2) throw system_error("write 1 to " + path);
    }
}

}  // namespace

void enable_ipv4_forwarding(const std::set<std::string>& devices, const std::string& proc_sys) {
    set_conf_switch(devices, proc_sys, "forwarding");
}

void enable_route_localnet(const std::set<std::string>& devices, const std::string& proc_sys) {
    set_conf_switch(devices, proc_sys, "route_localnet");
}

namespace {

// The first line of a /proc/sys file, "" when it does not exist.
std::string read_sysctl(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (in) std::getline(in, line);
    return line;
}

void write_sysctl(const std::string& path, const char* value) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return;  // the device went away meanwhile
        throw system_error("open " + path);
    }
    const std::string text = std::string(value) + "\n";
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        throw system_error(std::string("write ") + value + " to " + path);
}

}  // namespace

void enable_ipv6_forwarding(const std::string& proc_sys) {
    const std::string conf = proc_sys + "/net/ipv6/conf";
    if (ipv6_forwarding_enabled(proc_sys)) return;
    // accept_ra first: from the moment forwarding is on, an accept_ra of 1 means "ignore RAs".
    // ("all" has an accept_ra too, but the kernel never reads it.)
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(conf, ec)) {
        const std::string dev = e.path().filename().string();
        if (dev == "all") continue;
        const std::string path = e.path().string() + "/accept_ra";
        if (read_sysctl(path) == "1") write_sysctl(path, "2");
    }
    if (ec) throw make_error(ErrorKind::system, "list " + conf, ec.value());
    write_sysctl(conf + "/all/forwarding", "1");
}

bool ipv6_forwarding_enabled(const std::string& proc_sys) {
    return read_sysctl(proc_sys + "/net/ipv6/conf/all/forwarding") == "1";
}

std::set<std::string> ipv4_uplinks(const std::string& proc_net_route) {
    std::ifstream in(proc_net_route);
    if (!in) throw make_error(ErrorKind::system, "open " + proc_net_route, errno);
    std::set<std::string> out;
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string iface, dest, gateway, flags, refcnt, use, metric, mask;
        if (!(f >> iface >> dest >> gateway >> flags >> refcnt >> use >> metric >> mask)) continue;
        if (dest == "00000000" && mask == "00000000") out.insert(iface);
    }
    return out;
}

}  // namespace truman
