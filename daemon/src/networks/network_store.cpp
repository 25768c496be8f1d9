#include "truman/daemon/network_store.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/container_name.hpp"
#include "truman/daemon/names.hpp"
#include "truman/daemon/port_mapping_json.hpp"
#include "truman/daemon/ports.hpp"
#include "truman/daemon/time_format.hpp"
#include "truman/error.hpp"
#include "truman/firewall.hpp"
#include "truman/network.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace truman::daemon {

namespace {

// "tmbr" + 10 characters of the network's id: 14, inside IFNAMSIZ.
std::string generated_bridge_name(const std::string& id) {
    return "tmbr" + id.substr(0, 10);
}

std::string interface_name(size_t index) {
    return "eth" + std::to_string(index);
}

std::string cidr_of(uint32_t address, const ipam::Subnet& subnet) {
    return ipam::format_address(address) + "/" + std::to_string(subnet.prefix);
}

std::string cidr6_of(ipam::Address6 address, const ipam::Subnet6& subnet) {
    return ipam::format_address6(address) + "/" + std::to_string(subnet.prefix);
}

std::vector<PortMapping> ports_from_json(const json& lease) {
    std::vector<PortMapping> out;
    if (!lease.contains("ports")) return out;  // a record from before published ports
    for (const auto& p : lease.at("ports"))
        out.push_back(
            {p.at("host_ip").get<std::string>(), p.at("host_port").get<uint32_t>(),
             p.at("host_port_end").get<uint32_t>(), p.at("container_port").get<uint32_t>(),
             p.at("container_port_end").get<uint32_t>(), p.at("proto").get<std::string>()});
    return out;
}

}  // namespace

void NetworkStore::sync_firewall() const {
    if (!options_.manage_bridges) return;
    if (networks_.empty()) {
        // No table at all then (a daemon without networks leaves the host's nftables as it
        // found them), but none left over from networks removed while trumand was down;
        // unless trumand turned IPv6 forwarding on, which stays on, and so does its guard.
        if (guards_forwarding6_)
            apply_firewall({}, {}, true);
        else if (!list_firewall().empty())
            remove_firewall();
        return;
    }
    std::vector<NatNetwork> nat;
    std::set<std::string> forwarding = ipv4_uplinks(options_.proc_net_route);
    std::vector<PortForward> forwards;
    std::set<std::string> localnet;
    bool forwarding6 = false;
    for (const auto& [name, r] : networks_) {
        const std::string subnet6 = r.dual_stack() ? ipam::format_subnet6(r.subnet6) : "";
        nat.push_back({name, r.bridge, ipam::format_subnet(r.subnet), r.internal, subnet6,
                       has_dns(r) ? ipam::format_address(r.gateway) : "",
                       has_dns(r) && r.dual_stack() ? ipam::format_address6(r.gateway6) : ""});
        if (!r.internal) forwarding.insert(r.bridge);
        forwarding6 = forwarding6 || (!r.internal && r.dual_stack());
        for (const auto& l : r.leases)
            for (const auto& p : l.ports) {
                localnet.insert(r.bridge);
                for (uint32_t i = 0; i <= p.host_port_end - p.host_port; ++i)
                    forwards.push_back(
                        {"container " + l.container_name, r.bridge, ipam::format_subnet(r.subnet),
                         p.host_ip, static_cast<uint16_t>(p.host_port + i),
                         ipam::format_address(l.address),
                         static_cast<uint16_t>(p.container_port + i), p.proto, subnet6,
                         l.address6 != 0 ? ipam::format_address6(l.address6) : ""});
            }
    }
    // The guard is in the table before forwarding goes on (firewall.hpp).
    const bool guard6 = guards_forwarding6_ || (forwarding6 && !ipv6_forwarding_enabled());
    apply_firewall(nat, forwards, guard6);
    guards_forwarding6_ = guard6;
    enable_ipv4_forwarding(forwarding);
    enable_route_localnet(localnet);
    if (forwarding6) enable_ipv6_forwarding();
}

NetworkStore::NetworkStore(NetworkStoreOptions options)
    : options_(std::move(options)),
      pool_(ipam::parse_subnet(options_.pool, "network pool")),
      pool6_(ipam::parse_subnet6(options_.pool6, "network pool6")) {
    if (options_.pool_prefix < pool_.prefix || options_.pool_prefix > ipam::max_network_prefix)
        throw invalid_argument("network pool", "a /" + std::to_string(options_.pool_prefix) +
                                                   " does not fit in " + options_.pool);
    if (options_.pool6_prefix < pool6_.prefix || options_.pool6_prefix > ipam::max_network_prefix6)
        throw invalid_argument("network pool6", "a /" + std::to_string(options_.pool6_prefix) +
                                                    " does not fit in " + options_.pool6);
    if (options_.manage_bridges && !options_.dns_dir.empty())
        dns_ = std::make_unique<DnsServers>(options_.dns_dir, options_.dnsmasq);
}

NetworkStore::~NetworkStore() = default;

void NetworkStore::save(const Record& r) const {
    json leases = json::array();
    for (const auto& l : r.leases) {
        json lease = {{"container_id", l.container_id},
                      {"container_name", l.container_name},
                      {"interface", l.interface},
                      {"address", ipam::format_address(l.address)},
                      {"ports", port_mappings_to_json(l.ports)},
                      {"aliases", l.aliases}};
        // The IPv6 address in the same record as the IPv4 one: leased, and freed, together.
        if (l.address6 != 0) lease["address6"] = ipam::format_address6(l.address6);
        leases.push_back(std::move(lease));
    }
    json doc = {{"id", r.id},
                {"name", r.name},
                {"bridge", r.bridge},
                {"subnet", ipam::format_subnet(r.subnet)},
                {"gateway", ipam::format_address(r.gateway)},
                {"internal", r.internal},
                {"labels", r.labels},
                {"created_at", r.created_at},
                {"leases", std::move(leases)}};
    if (r.dual_stack()) {
        doc["subnet6"] = ipam::format_subnet6(r.subnet6);
        doc["gateway6"] = ipam::format_address6(r.gateway6);
    }
    // No fsync here: create waits for this (+45 ms measured); synced_ does it just after.
    write_file_replace(path_of(r.name), doc.dump(2) + "\n");
    synced_.add(path_of(r.name));
    if (has_dns(r)) {
        try {
            dns_->set_names(r.name, dns_names(r));
        } catch (const std::exception& e) {
            // Its DNS server answers the old names until the next change or start-up.
            spdlog::error("network {}: DNS names: {}", r.name, e.what());
        }
    }
}

NetworkStore::Record NetworkStore::parse(const std::string& text, const std::string& path) {
    try {
        json doc = json::parse(text);
        Record r;
        r.id = doc.at("id").get<std::string>();
        r.name = doc.at("name").get<std::string>();
        r.bridge = doc.at("bridge").get<std::string>();
        r.subnet = ipam::parse_subnet(doc.at("subnet").get<std::string>(), path + ": subnet");
        r.gateway = ipam::parse_address(doc.at("gateway").get<std::string>(), path + ": gateway");
        r.internal = doc.at("internal").get<bool>();
        r.labels = doc.at("labels").get<std::map<std::string, std::string>>();
        r.created_at = doc.at("created_at").get<std::string>();
        if (doc.contains("subnet6")) {  // a record from before dual stack has none
            r.subnet6 =
                ipam::parse_subnet6(doc.at("subnet6").get<std::string>(), path + ": subnet6");
            r.gateway6 =
                ipam::parse_address6(doc.at("gateway6").get<std::string>(), path + ": gateway6");
        }
        for (const auto& l : doc.at("leases")) {
            r.leases.push_back(
                {l.at("container_id").get<std::string>(), l.at("container_name").get<std::string>(),
                 l.at("interface").get<std::string>(),
                 ipam::parse_address(l.at("address").get<std::string>(), path + ": address"),
                 ports_from_json(l), l.value("aliases", std::vector<std::string>{})});
            if (l.contains("address6"))
                r.leases.back().address6 =
                    ipam::parse_address6(l.at("address6").get<std::string>(), path + ": address6");
        }
        return r;
    } catch (const json::exception& e) {
        throw Error(ErrorKind::system, EINVAL, path + ": " + e.what());
    }
}

std::set<std::string> NetworkStore::restore_leases(const std::vector<RecordedAddress>& recorded) {
    std::set<std::string> changed;
    for (const auto& a : recorded) {
        auto it = std::find_if(networks_.begin(), networks_.end(),
                               [&](const auto& n) { return n.second.bridge == a.bridge; });
        if (it == networks_.end()) continue;  // a network removed since (it had no leases)
        if (!options_.manage_bridges || !link_exists(a.host_interface)) continue;
        Record& r = it->second;
        if (std::any_of(r.leases.begin(), r.leases.end(),
                        [&](const Lease& l) { return l.container_id == a.container_id; }))
            continue;
        uint32_t address = 0;
        try {
            address = ipam::parse_address(a.address.substr(0, a.address.find('/')), "address");
        } catch (const std::exception& e) {
            spdlog::error("container {}: its recorded address {}: {}", a.container_name, a.address,
                          e.what());
            continue;
        }
        auto taken = std::find_if(r.leases.begin(), r.leases.end(),
                                  [&](const Lease& l) { return l.address == address; });
        if (taken != r.leases.end()) {
            spdlog::error("network {}: container {} holds {}, leased to {} as well", r.name,
                          a.container_name, a.address, taken->container_name);
            continue;
        }
        // Its published ports are not in config.json: they stay lost (README says so).
        r.leases.push_back({a.container_id, a.container_name, a.interface, address, {}, {}});
        spdlog::warn("network {}: restored the lost lease of {} for container {}", r.name,
                     a.address, a.container_name);
        changed.insert(r.name);
    }
    return changed;
}

void NetworkStore::open(const std::function<bool(const std::string& id)>& container_exists,
                        const std::vector<RecordedAddress>& recorded) {
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec) throw make_error(ErrorKind::system, "create " + options_.dir, ec.value());
    std::lock_guard lock(mutex_);
    for (const auto& e : fs::directory_iterator(options_.dir)) {
        const std::string file = e.path().filename().string();
        if (is_atomic_temp_name(file)) {
            fs::remove(e.path(), ec);  // a write a crash interrupted; the old file stands
            continue;
        }
        if (e.path().extension() != ".json") continue;
        try {
            Record r = parse(read_whole_file(e.path().string()), e.path().string());
            auto before = r.leases.size();
            std::erase_if(r.leases,
                          [&](const Lease& l) { return !container_exists(l.container_id); });
            if (r.leases.size() != before) {
                spdlog::info("network {}: released {} address(es) of containers that are gone",
                             r.name, before - r.leases.size());
                save(r);
            }
            networks_[r.name] = std::move(r);
        } catch (const std::exception& ex) {
            spdlog::error("network record {}: {}", e.path().string(), ex.what());
        }
    }
    for (const auto& name : restore_leases(recorded)) {
        try {
            save(networks_.at(name));
        } catch (const std::exception& ex) {
            spdlog::error("network {}: {}", name, ex.what());
        }
    }
    if (!options_.manage_bridges) return;
    for (const auto& [name, r] : networks_) {
        try {
            ensure_bridge(r.bridge, cidr_of(r.gateway, r.subnet),
                          r.dual_stack() ? cidr6_of(r.gateway6, r.subnet6) : "");
        } catch (const std::exception& ex) {
            spdlog::error("network {}: bridge {}: {}", name, r.bridge, ex.what());
        }
    }
    start_dns_servers();
    hold_recorded_ports();
    // Rebuilt whole: whatever a crash left in the table is replaced, nothing is doubled.
    try {
        // Whether an earlier trumand turned IPv6 forwarding on: its guard says so.
        guards_forwarding6_ = firewall_guards_ipv6_forwarding();
        sync_firewall();
    } catch (const std::exception& ex) {
        spdlog::error("networks: firewall: {}", ex.what());
    }
}

std::vector<ipam::TakenSubnet> NetworkStore::taken_subnets() const {
    std::vector<ipam::TakenSubnet> taken;
    std::set<std::string> bridges;
    for (const auto& [name, r] : networks_) {
        taken.push_back({r.subnet, "network " + name});
        bridges.insert(r.bridge);
    }
    // Our bridges' own routes are the networks above, named as such.
    for (auto& route : ipam::host_routes(options_.proc_net_route, bridges))
        taken.push_back(std::move(route));
    return taken;
}

std::vector<ipam::TakenSubnet6> NetworkStore::taken_subnets6() const {
    std::vector<ipam::TakenSubnet6> taken;
    std::set<std::string> bridges;
    for (const auto& [name, r] : networks_) {
        if (r.dual_stack()) taken.push_back({r.subnet6, "network " + name});
        bridges.insert(r.bridge);
    }
    for (auto& route : ipam::host_routes6(options_.proc_net_ipv6_route, bridges))
        taken.push_back(std::move(route));
    return taken;
}

NetworkStore::Record NetworkStore::make_record(const NetworkCreateRequest& request) const {
    validate_name(request.name, "name");
    if (networks_.count(request.name))
        throw Error(ErrorKind::conflict, EEXIST, "network " + request.name + " already exists");
    Record r;
    r.id = generate_id();
    r.name = request.name;
    r.bridge = request.bridge.empty() ? generated_bridge_name(r.id) : request.bridge;
    validate_link_name(r.bridge, "bridge");
    for (const auto& [name, other] : networks_)
        if (other.bridge == r.bridge)
            throw Error(ErrorKind::conflict, EEXIST,
                        "bridge " + r.bridge + " belongs to network " + name);
    if (!request.gateway.empty() && request.subnet.empty())
        throw invalid_argument("gateway", "needs a subnet");
    std::vector<ipam::TakenSubnet> taken = taken_subnets();
    if (request.subnet.empty()) {
        r.subnet = ipam::choose_subnet(pool_, options_.pool_prefix, taken);
    } else {
        r.subnet = ipam::parse_subnet(request.subnet, "subnet");
        ipam::check_no_overlap(r.subnet, taken);
    }
    if (request.gateway.empty()) {
        r.gateway = ipam::default_gateway(r.subnet);
    } else {
        r.gateway = ipam::parse_address(request.gateway, "gateway");
        ipam::check_gateway(r.subnet, r.gateway, "gateway");
    }
    if (!request.gateway6.empty() && request.subnet6.empty())
        throw invalid_argument("gateway6", "needs a subnet6");
    if (request.ipv6 == false && !request.subnet6.empty())
        throw invalid_argument("ipv6", "is false, and subnet6 is given");
    if (!request.subnet6.empty()) {
        r.subnet6 = ipam::parse_subnet6(request.subnet6, "subnet6");
        ipam::check_no_overlap(r.subnet6, taken_subnets6());
    } else if (request.ipv6.value_or(false)) {
        r.subnet6 = ipam::choose_subnet(pool6_, options_.pool6_prefix, taken_subnets6());
    }
    if (r.dual_stack()) {
        if (request.gateway6.empty()) {
            r.gateway6 = ipam::default_gateway(r.subnet6);
        } else {
            r.gateway6 = ipam::parse_address6(request.gateway6, "gateway6");
            ipam::check_gateway(r.subnet6, r.gateway6, "gateway6");
        }
    }
    for (const auto& [key, value] : request.labels)
        if (key.empty()) throw invalid_argument("labels", "a label needs a name");
    r.internal = request.internal;
    r.labels = request.labels;
    r.created_at = rfc3339_now();
    // A link of that name that is not ours (we would take it over, then delete it).
    if (options_.manage_bridges && link_exists(r.bridge))
        throw Error(ErrorKind::conflict, EEXIST, "a link named " + r.bridge + " already exists");
    return r;
}

void NetworkStore::add(Record r) {
    // The record first: a crash after it leaves a network whose bridge open() makes; a crash
    // before it, nothing.
    save(r);
    if (options_.manage_bridges) {
        try {
            ensure_bridge(r.bridge, cidr_of(r.gateway, r.subnet),
                          r.dual_stack() ? cidr6_of(r.gateway6, r.subnet6) : "");
            networks_[r.name] = r;
            if (has_dns(r)) dns_->ensure(dns_config(r), dns_names(r));
            sync_firewall();
        } catch (...) {
            networks_.erase(r.name);
            if (has_dns(r)) {
                try {
                    dns_->stop(r.name);
                } catch (const std::exception& e) {
                    spdlog::error("network {}: stopping its half-made DNS server: {}", r.name,
                                  e.what());
                }
            }
            std::error_code ec;
            fs::remove(path_of(r.name), ec);
            try {
                delete_bridge(r.bridge);
            } catch (const std::exception& e) {
                spdlog::error("network {}: removing half-made bridge {}: {}", r.name, r.bridge,
                              e.what());
            }
            throw;
        }
    }
    spdlog::info("created network {} ({} on {})", r.name, ipam::format_subnet(r.subnet), r.bridge);
    std::string name = r.name;
    networks_[name] = std::move(r);
}

NetworkInfo NetworkStore::create(const NetworkCreateRequest& request) {
    std::lock_guard lock(mutex_);
    Record r = make_record(request);
    NetworkInfo info = info_of(r);
    add(std::move(r));
    return info;
}

void NetworkStore::ensure_default(const std::string& name, const std::string& bridge) {
    std::lock_guard lock(mutex_);
    if (networks_.count(name)) return;
    NetworkCreateRequest request;
    request.name = name;
    request.bridge = bridge;
    add(make_record(request));
}

NetworkInfo NetworkStore::info_of(const Record& r) const {
    NetworkInfo info{r.id,
                     r.name,
                     r.bridge,
                     ipam::format_subnet(r.subnet),
                     ipam::format_address(r.gateway),
                     r.internal,
                     r.labels,
                     r.created_at,
                     {}};
    if (r.dual_stack()) {
        info.subnet6 = ipam::format_subnet6(r.subnet6);
        info.gateway6 = ipam::format_address6(r.gateway6);
    }
    for (const auto& l : r.leases)
        info.containers.push_back({l.container_id, l.container_name,
                                   ipam::format_address(l.address),
                                   l.address6 != 0 ? ipam::format_address6(l.address6) : ""});
    return info;
}

std::vector<NetworkInfo> NetworkStore::list() const {
    std::lock_guard lock(mutex_);
    std::vector<NetworkInfo> out;
    for (const auto& [name, r] : networks_) out.push_back(info_of(r));
    return out;
}

NetworkInfo NetworkStore::get(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = networks_.find(name);
    if (it == networks_.end())
        throw Error(ErrorKind::not_found, ENOENT, "no such network: " + name);
    return info_of(it->second);
}

void NetworkStore::remove(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto it = networks_.find(name);
    if (it == networks_.end())
        throw Error(ErrorKind::not_found, ENOENT, "no such network: " + name);
    const Record& r = it->second;
    if (!r.leases.empty()) {
        std::string users;
        for (const auto& l : r.leases) users += (users.empty() ? "" : ", ") + l.container_name;
        throw Error(ErrorKind::conflict, EBUSY,
                    "network " + name + " is in use by container(s) " + users);
    }
    // The bridge first: a crash after it leaves a record whose bridge open() makes again, and
    // the delete can be repeated; the other order could leave a bridge nobody knows.
    // Its DNS server before the bridge, whose address it listens on.
    if (has_dns(r)) dns_->stop(name);
    if (options_.manage_bridges) delete_bridge(r.bridge);
    if (::unlink(path_of(name).c_str()) < 0 && errno != ENOENT)
        throw system_error("remove " + path_of(name));
    spdlog::info("removed network {}", name);
    networks_.erase(it);
    try {
        sync_firewall();
    } catch (const std::exception& e) {
        // The network is gone; its rule goes at the next change or start-up.
        spdlog::error("networks: firewall after removing {}: {}", name, e.what());
    }
}

std::vector<Fd> NetworkStore::reserve_ports(std::vector<PortMapping>& ports, bool dual) const {
    ports::normalise(ports);
    for (size_t i = 0; i < ports.size(); ++i)
        for (const auto& want : ports::bindings_of(ports[i])) {
            if (want.host_port == 0) continue;  // the kernel picks one nobody holds
            for (const auto& [name, r] : networks_)
                for (const auto& l : r.leases)
                    for (const auto& held : l.ports)
                        for (const auto& b : ports::bindings_of(held))
                            if (ports::overlaps(want, b))
                                throw Error(ErrorKind::conflict, EADDRINUSE,
                                            ports::describe(want) + " is published by container " +
                                                l.container_name + " (" + ports::describe(b) + ")");
        }
    std::vector<Fd> holds;
    if (!options_.manage_bridges) return holds;  // records only: no host to reserve them on
    for (size_t i = 0; i < ports.size(); ++i) {
        PortMapping& p = ports[i];
        const std::string field = "ports[" + std::to_string(i) + "].host_ip";
        // Every address of a dual stack network's host is the IPv6 ones too.
        const bool also6 = dual && p.host_ip == "0.0.0.0";
        if (p.host_port == 0) {
            uint32_t chosen = 0;
            holds.push_back(ports::hold(p.host_ip, 0, p.proto, &chosen, field));
            // The kernel chose a port free on IPv4; another program may hold it on [::]. Then
            // another choice (the refused one stays bound while choosing, so it is not
            // chosen again); a few, then the 409.
            std::vector<Fd> refused;
            for (int attempt = 0; also6; ++attempt) {
                try {
                    holds.push_back(ports::hold("::", chosen, p.proto, nullptr, field));
                    break;
                } catch (const Error& e) {
                    if (e.kind() != ErrorKind::conflict || attempt == 7) throw;
                }
                refused.push_back(std::move(holds.back()));
                holds.pop_back();
                holds.push_back(ports::hold(p.host_ip, 0, p.proto, &chosen, field));
            }
            p.host_port = p.host_port_end = chosen;
            continue;
        }
        for (uint32_t port = p.host_port; port <= p.host_port_end; ++port) {
            holds.push_back(ports::hold(p.host_ip, port, p.proto, nullptr, field));
            if (also6) holds.push_back(ports::hold("::", port, p.proto, nullptr, field));
        }
    }
    return holds;
}

void NetworkStore::hold_recorded_ports() {
    for (const auto& [name, r] : networks_)
        for (const auto& l : r.leases)
            for (const auto& p : l.ports)
                for (auto b : ports::bindings_of(p)) {
                    std::vector<ports::Binding> held{b};
                    if (r.dual_stack() && b.host_ip == "0.0.0.0") {
                        b.host_ip = "::";
                        held.push_back(b);
                    }
                    for (const auto& h : held) {
                        try {
                            port_holds_[l.container_id].push_back(
                                ports::hold(h.host_ip, h.host_port, h.proto, nullptr, "ports"));
                        } catch (const std::exception& e) {
                            // Taken while trumand was down: the DNAT rule still wins.
                            spdlog::error("container {}: holding its port {}: {}", l.container_name,
                                          ports::describe(h), e.what());
                        }
                    }
                }
}

std::vector<BridgePort> NetworkStore::attach(const std::string& container_id,
                                             const std::string& container_name,
                                             const std::vector<NetworkAttachRequest>& requests,
                                             const std::vector<PortMapping>& publish) {
    if (requests.size() > max_bridge_ports)
        throw invalid_argument("networks", "at most " + std::to_string(max_bridge_ports));
    for (size_t i = 0; i < requests.size(); ++i)
        for (size_t k = 0; k < requests[i].aliases.size(); ++k)
            validate_host_name(requests[i].aliases[k], "networks[" + std::to_string(i) +
                                                           "].aliases[" + std::to_string(k) + "]");
    std::vector<BridgePort> ports;
    std::set<std::string> peers;
    {
        std::lock_guard lock(mutex_);
        ports = attach_locked(container_id, container_name, requests, publish);
        peers = peers_of(container_id);
    }
    notify(peers);
    return ports;
}

std::vector<BridgePort> NetworkStore::attach_locked(
    const std::string& container_id, const std::string& container_name,
    const std::vector<NetworkAttachRequest>& requests, const std::vector<PortMapping>& publish) {
    // Everything is checked and computed before the first record is written.
    std::vector<Record> changed;
    std::vector<BridgePort> ports;
    for (size_t i = 0; i < requests.size(); ++i) {
        const std::string field = "networks[" + std::to_string(i) + "]";
        const NetworkAttachRequest& req = requests[i];
        auto it = networks_.find(req.network);
        if (it == networks_.end())
            throw Error(ErrorKind::not_found, ENOENT, "no such network: " + req.network);
        for (size_t j = 0; j < i; ++j)
            if (requests[j].network == req.network)
                throw invalid_argument(field, "network " + req.network + " is given twice");
        const Record& r = it->second;
        uint32_t address = lease_address(r, req.ip, field + ".ip");
        ipam::Address6 address6 = lease_address6(r, req.ip6, field + ".ip6");
        Record updated = r;
        updated.leases.push_back(
            {container_id, container_name, interface_name(i), address, {}, req.aliases, address6});
        changed.push_back(std::move(updated));
        ports.push_back(bridge_port_of(r, container_id, i, address, address6, i == 0));
    }
    std::vector<PortMapping> published = publish;
    std::vector<Fd> holds;
    if (!published.empty()) {
        if (requests.empty())
            throw invalid_argument("ports", "publishing a port needs a network to publish from");
        if (networks_.at(requests[0].network).internal)
            throw invalid_argument("ports", "network " + requests[0].network +
                                                " is internal: nothing outside it reaches it");
        const Record& first = networks_.at(requests[0].network);
        for (size_t i = 0; i < published.size(); ++i)
            if (published[i].host_ip.find(':') != std::string::npos && !first.dual_stack())
                throw invalid_argument("ports[" + std::to_string(i) + "].host_ip",
                                       published[i].host_ip + " is IPv6 and network " + first.name +
                                           " has no IPv6 subnet");
        holds = reserve_ports(published, first.dual_stack());
        changed[0].leases.back().ports = published;
    }
    size_t saved = 0;
    try {
        for (; saved < changed.size(); ++saved) save(changed[saved]);
    } catch (...) {
        // Put back what was written; a failure here leaves a lease that open() drops.
        for (size_t k = 0; k < saved; ++k) {
            try {
                save(networks_.at(changed[k].name));
            } catch (const std::exception& e) {
                spdlog::error("network {}: undoing a lease: {}", changed[k].name, e.what());
            }
        }
        throw;
    }
    for (auto& r : changed) networks_[r.name] = std::move(r);
    if (!published.empty()) {
        port_holds_[container_id] = std::move(holds);
        try {
            sync_firewall();
        } catch (...) {
            try {
                release_locked(container_id);
            } catch (const std::exception& e) {
                spdlog::error("container {}: undoing its lease: {}", container_name, e.what());
            }
            throw;
        }
    }
    return ports;
}

void NetworkStore::release(const std::string& container_id) {
    std::set<std::string> peers;
    {
        std::lock_guard lock(mutex_);
        peers = peers_of(container_id);
        release_locked(container_id);
    }
    notify(peers);
}

void NetworkStore::release_locked(const std::string& container_id) {
    bool published = port_holds_.erase(container_id) > 0;
    for (auto& [name, r] : networks_) {
        Record updated = r;
        auto before = updated.leases.size();
        std::erase_if(updated.leases,
                      [&](const Lease& l) { return l.container_id == container_id; });
        if (updated.leases.size() == before) continue;
        for (const auto& l : r.leases)
            if (l.container_id == container_id && !l.ports.empty()) published = true;
        save(updated);
        r = std::move(updated);
    }
    if (published) sync_firewall();
}

std::set<std::string> NetworkStore::peers_of(const std::string& container_id) const {
    std::set<std::string> out;
    for (const auto& [name, r] : networks_) {
        bool on = std::any_of(r.leases.begin(), r.leases.end(),
                              [&](const Lease& l) { return l.container_id == container_id; });
        if (!on) continue;
        for (const auto& l : r.leases)
            if (l.container_id != container_id) out.insert(l.container_id);
    }
    return out;
}

void NetworkStore::notify(const std::set<std::string>& ids) const {
    if (peers_changed_ && !ids.empty()) peers_changed_(ids);
}

NetworkStore::HostsView NetworkStore::hosts_view(const std::string& container_id) const {
    std::lock_guard lock(mutex_);
    HostsView view;
    for (const auto& [name, r] : networks_) {
        const Lease* self = nullptr;
        for (const auto& l : r.leases)
            if (l.container_id == container_id) self = &l;
        if (!self) continue;
        for (const auto& l : r.leases) {
            HostsEntry e{ipam::format_address(l.address), {}};
            if (&l != self) e.names.push_back(l.container_name);
            e.names.insert(e.names.end(), l.aliases.begin(), l.aliases.end());
            if (&l == self)
                view.own.push_back(std::move(e));
            else
                view.peers.push_back(std::move(e));
        }
    }
    return view;
}

namespace {

void sort_by_interface(std::vector<ContainerEndpoint>& endpoints) {
    std::sort(endpoints.begin(), endpoints.end(),
              [](const auto& a, const auto& b) { return a.interface < b.interface; });
}

}  // namespace

ContainerEndpoint NetworkStore::endpoint_of(const std::string& network, const Lease& l,
                                            const Record& r) {
    const bool first = l.interface == "eth0";
    return {network,
            l.interface,
            cidr_of(l.address, r.subnet),
            first ? ipam::format_address(r.gateway) : "",
            l.address6 != 0 ? cidr6_of(l.address6, r.subnet6) : "",
            first && l.address6 != 0 ? ipam::format_address6(r.gateway6) : ""};
}

std::vector<ContainerEndpoint> NetworkStore::endpoints_of(const std::string& container_id) const {
    std::lock_guard lock(mutex_);
    std::vector<ContainerEndpoint> out;
    for (const auto& [name, r] : networks_)
        for (const auto& l : r.leases)
            if (l.container_id == container_id) out.push_back(endpoint_of(name, l, r));
    sort_by_interface(out);
    return out;
}

std::map<std::string, NetworkStore::Attachment> NetworkStore::attachments() const {
    std::lock_guard lock(mutex_);
    std::map<std::string, Attachment> out;
    for (const auto& [name, r] : networks_)
        for (const auto& l : r.leases) {
            Attachment& a = out[l.container_id];
            a.endpoints.push_back(endpoint_of(name, l, r));
            a.ports.insert(a.ports.end(), l.ports.begin(), l.ports.end());
        }
    for (auto& [id, a] : out) sort_by_interface(a.endpoints);
    return out;
}

std::vector<std::string> NetworkStore::dns_servers_of(const std::string& container_id) const {
    std::lock_guard lock(mutex_);
    for (const auto& [name, r] : networks_)
        for (const auto& l : r.leases)
            if (l.container_id == container_id && l.interface == "eth0" && has_dns(r)) {
                std::vector<std::string> out{ipam::format_address(r.gateway)};
                if (r.dual_stack()) out.push_back(ipam::format_address6(r.gateway6));
                return out;
            }
    return {};
}

DnsServerConfig NetworkStore::dns_config(const Record& r) const {
    DnsServerConfig config{r.name, ipam::format_address(r.gateway), {}};
    if (r.dual_stack()) config.listen_address6 = ipam::format_address6(r.gateway6);
    // An internal network reaches nothing outside it: names of its own only.
    if (!r.internal) config.upstream = upstream_servers(host_resolv_conf(options_.resolv_conf));
    return config;
}

std::vector<HostsEntry> NetworkStore::dns_names(const Record& r) {
    std::vector<HostsEntry> out;
    for (const auto& l : r.leases) {
        HostsEntry e{ipam::format_address(l.address), {l.container_name}};
        e.names.insert(e.names.end(), l.aliases.begin(), l.aliases.end());
        // Dual stack: the same names for its IPv6 address (AAAA).
        if (l.address6 != 0) out.push_back({ipam::format_address6(l.address6), e.names});
        out.push_back(std::move(e));
    }
    return out;
}

void NetworkStore::start_dns_servers() {
    if (!dns_) return;
    // The servers that kept running while trumand was down are found again and kept; the
    // others (after a reboot, or one that died) are started; those of networks removed
    // meanwhile are stopped.
    std::set<std::string> keep;
    for (const auto& [name, r] : networks_) {
        if (!has_dns(r)) continue;
        keep.insert(name);
        try {
            dns_->ensure(dns_config(r), dns_names(r));
        } catch (const std::exception& e) {
            spdlog::error("network {}: {}", name, e.what());
        }
    }
    dns_->stop_all_but(keep);
}

std::vector<PortMapping> NetworkStore::ports_of(const std::string& container_id) const {
    std::lock_guard lock(mutex_);
    std::vector<PortMapping> out;
    for (const auto& [name, r] : networks_)
        for (const auto& l : r.leases)
            if (l.container_id == container_id)
                out.insert(out.end(), l.ports.begin(), l.ports.end());
    return out;
}

}  // namespace truman::daemon

namespace truman::daemon {

uint32_t NetworkStore::lease_address(const Record& r, const std::string& ip,
                                     const std::string& field) {
    std::set<uint32_t> used;
    for (const auto& l : r.leases) used.insert(l.address);
    if (ip.empty()) return ipam::next_free_address(r.subnet, r.gateway, used, r.name);
    uint32_t address = ipam::parse_address(ip, field);
    ipam::check_requested_address(r.subnet, r.gateway, address, used, r.name, field);
    return address;
}

ipam::Address6 NetworkStore::lease_address6(const Record& r, const std::string& ip6,
                                            const std::string& field) {
    if (!r.dual_stack()) {
        if (!ip6.empty())
            throw invalid_argument(field, "network " + r.name + " has no IPv6 subnet");
        return 0;
    }
    std::set<ipam::Address6> used;
    for (const auto& l : r.leases)
        if (l.address6 != 0) used.insert(l.address6);
    if (ip6.empty()) return ipam::next_free_address(r.subnet6, r.gateway6, used, r.name);
    ipam::Address6 address = ipam::parse_address6(ip6, field);
    ipam::check_requested_address(r.subnet6, r.gateway6, address, used, r.name, field);
    return address;
}

BridgePort NetworkStore::bridge_port_of(const Record& r, const std::string& container_id,
                                        size_t index, uint32_t address, ipam::Address6 address6,
                                        bool default_route) {
    BridgePort port;
    port.bridge = r.bridge;
    port.host_interface = bridge_port_name(container_id, index);
    port.interface = interface_name(index);
    port.address = cidr_of(address, r.subnet);
    if (default_route) port.gateway = ipam::format_address(r.gateway);
    if (address6 != 0) {
        port.address6 = cidr6_of(address6, r.subnet6);
        if (default_route) port.gateway6 = ipam::format_address6(r.gateway6);
    }
    return port;
}

BridgePort NetworkStore::connect(const std::string& container_id, const std::string& container_name,
                                 const NetworkAttachRequest& request) {
    for (size_t k = 0; k < request.aliases.size(); ++k)
        validate_host_name(request.aliases[k], "aliases[" + std::to_string(k) + "]");
    BridgePort port;
    std::set<std::string> peers;
    {
        std::lock_guard lock(mutex_);
        auto it = networks_.find(request.network);
        if (it == networks_.end())
            throw Error(ErrorKind::not_found, ENOENT, "no such network: " + request.network);
        std::set<std::string> interfaces;
        bool already = false;
        for (const auto& [name, r] : networks_)
            for (const auto& l : r.leases)
                if (l.container_id == container_id) {
                    already = already || name == request.network;
                    interfaces.insert(l.interface);
                }
        if (already)
            throw Error(
                ErrorKind::conflict, EEXIST,
                "container " + container_name + " is already on network " + request.network);
        size_t index = 0;
        while (index < max_bridge_ports && interfaces.count(interface_name(index))) ++index;
        if (index == max_bridge_ports)
            throw Error(ErrorKind::conflict, EBUSY,
                        "container " + container_name + " is on " +
                            std::to_string(max_bridge_ports) + " networks already");
        Record updated = it->second;
        uint32_t address = lease_address(updated, request.ip, "ip");
        ipam::Address6 address6 = lease_address6(updated, request.ip6, "ip6");
        updated.leases.push_back({container_id,
                                  container_name,
                                  interface_name(index),
                                  address,
                                  {},
                                  request.aliases,
                                  address6});
        save(updated);
        port = bridge_port_of(updated, container_id, index, address, address6, interfaces.empty());
        it->second = std::move(updated);
        peers = peers_of(container_id);
    }
    peers.insert(container_id);  // its own file lists its new address
    notify(peers);
    return port;
}

BridgePort NetworkStore::disconnect(const std::string& container_id, const std::string& network) {
    BridgePort port;
    std::set<std::string> peers;
    {
        std::lock_guard lock(mutex_);
        auto it = networks_.find(network);
        if (it == networks_.end())
            throw Error(ErrorKind::not_found, ENOENT, "no such network: " + network);
        peers = peers_of(container_id);
        Record updated = it->second;
        auto lease = std::find_if(updated.leases.begin(), updated.leases.end(),
                                  [&](const Lease& l) { return l.container_id == container_id; });
        if (lease == updated.leases.end())
            throw Error(ErrorKind::conflict, ENOENT, "the container is not on network " + network);
        port.bridge = updated.bridge;
        port.interface = lease->interface;
        port.host_interface =
            bridge_port_name(container_id, std::stoul(lease->interface.substr(3)));
        port.address = cidr_of(lease->address, updated.subnet);
        if (lease->address6 != 0) port.address6 = cidr6_of(lease->address6, updated.subnet6);
        updated.leases.erase(lease);
        save(updated);
        it->second = std::move(updated);
    }
    peers.insert(container_id);
    notify(peers);
    return port;
}

}  // namespace truman::daemon
