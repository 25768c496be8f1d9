// The daemon's networks and their address leases, one record per network in
// <state-dir>/networks/<name>.json (written atomically, the leases with it), and the host
// bridge of each. The rules for subnets and addresses are ipam.hpp's; this file keeps them
// true across requests, restarts and SIGKILLs: an address is recorded on disk before the
// container that holds it exists, and a lease lives until its container is removed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "truman/daemon/batched_sync.hpp"
#include "truman/daemon/dns_server.hpp"
#include "truman/daemon/ipam.hpp"
#include "truman/daemon/name_files.hpp"
#include "truman/daemon/network_service.hpp"
#include "truman/fd.hpp"
#include "truman/spec.hpp"

namespace truman::daemon {

// The bridge of the default network, like Docker's docker0.
inline constexpr const char* default_bridge_name = "truman0";

// An address a container was given, as its own config.json records it (fsync'd when the
// container is created, while its lease is fsync'd a moment later, in a batch).
struct RecordedAddress {
    std::string container_id, container_name;
    std::string bridge, interface;
    std::string host_interface;  // its veth's host end: there while the container runs
    std::string address;         // CIDR
};

struct NetworkStoreOptions {
    std::string dir;                    // <state-dir>/networks
    std::string pool = "10.89.0.0/16";  // where subnets come from when none is given
    unsigned pool_prefix = 24;          // the size of each
    std::string proc_net_route = "/proc/net/route";
    std::string pool6 = ipam::default_pool6;  // IPv6 subnets of `ipv6: true` networks
    unsigned pool6_prefix = ipam::default_pool6_prefix;
    std::string proc_net_ipv6_route = "/proc/net/ipv6_route";
    bool manage_bridges = true;  // false: records only (unit tests, no privileges)
    // Where the DNS servers of user-made networks keep their files (dns_server.hpp), ""
    // for none; the resolv.conf whose servers they forward to; the dnsmasq they run.
    std::string dns_dir{};
    std::string resolv_conf = "/etc/resolv.conf";
    std::string dnsmasq = "/usr/sbin/dnsmasq";
};

class NetworkStore {
  public:
    explicit NetworkStore(NetworkStoreOptions options);
    ~NetworkStore();  // fsyncs what is still unsynced
    NetworkStore(const NetworkStore&) = delete;
    NetworkStore& operator=(const NetworkStore&) = delete;

    // Loads every record, drops the leases of containers that no longer exist (a create
    // trumand did not finish, a delete it did not record) and makes sure every bridge is up
    // (again, after a reboot). Then puts back the leases of recorded (the existing
    // containers' own records) that a power loss took from the network records before their
    // fsync, so that no address a running container holds is handed out again: those whose
    // veth is still on the host (a container disconnected from the network has none).
    void open(const std::function<bool(const std::string& id)>& container_exists,
              const std::vector<RecordedAddress>& recorded = {});

    NetworkInfo create(const NetworkCreateRequest& request);
    // The daemon's default network: made from the pool the first time, with this bridge.
    void ensure_default(const std::string& name, const std::string& bridge);
    std::vector<NetworkInfo> list() const;
    NetworkInfo get(const std::string& name) const;  // not_found
    // conflict while a container holds an address on it.
    void remove(const std::string& name);

    // One address per request, all or nothing, recorded before returning: the ports of the
    // container's spec, in order (the first one carries the default route). Errors name
    // networks[i] (invalid, not_found) or the taken address (conflict).
    // With ports, published on the first network: checked (ports.hpp), reserved on the host
    // (conflict naming host_ip:port/proto when truman or another program holds one), recorded
    // with the lease and in the firewall before returning.
    std::vector<BridgePort> attach(const std::string& container_id,
                                   const std::string& container_name,
                                   const std::vector<NetworkAttachRequest>& requests,
                                   const std::vector<PortMapping>& publish = {});
    // Frees every address of container_id (a removed container). Throws truman::Error when a
    // record could not be written; the lease then stays, and open() drops it later.
    void release(const std::string& container_id);
    std::vector<ContainerEndpoint> endpoints_of(const std::string& container_id) const;
    // The DNS servers a container's resolv.conf names: the one of the network of its eth0
    // when that network has one (a user-made network; the default one has none, as
    // Docker's), at its gateway and, dual stack, at its IPv6 gateway after it (as podman's
    // aardvark-dns: an IPv4 resolver first, the IPv6 one when that does not answer); else
    // none.
    std::vector<std::string> dns_servers_of(const std::string& container_id) const;
    // Its published ports, as chosen (host_port 0 filled in).
    std::vector<PortMapping> ports_of(const std::string& container_id) const;
    // endpoints_of and ports_of of every container with an address, in one pass over the
    // leases (a list of n containers would make n passes otherwise).
    struct Attachment {
        std::vector<ContainerEndpoint> endpoints;
        std::vector<PortMapping> ports;
    };
    std::map<std::string, Attachment> attachments() const;

    // network connect: one more address for a container, recorded before returning, on the
    // lowest interface (eth0..eth8) it does not use; the default route only when it is on no
    // network yet. conflict when it is on that network already (or on 9); not_found for an
    // unknown network. disconnect: frees that address, returning the port it had; conflict
    // when the container is not on the network.
    BridgePort connect(const std::string& container_id, const std::string& container_name,
                       const NetworkAttachRequest& request);
    BridgePort disconnect(const std::string& container_id, const std::string& network);

    // The names of container_id's /etc/hosts (name_files.hpp): its own addresses with its
    // aliases there, and every peer on a network it shares, by name and aliases.
    struct HostsView {
        std::vector<HostsEntry> own, peers;
    };
    HostsView hosts_view(const std::string& container_id) const;
    // Called, outside the store's lock, with the containers whose peers changed (a container
    // joined or left a network they are on) after attach and release.
    void on_peers_changed(std::function<void(const std::set<std::string>& ids)> callback) {
        peers_changed_ = std::move(callback);
    }

  private:
    struct Lease {
        std::string container_id, container_name, interface;
        uint32_t address = 0;
        std::vector<PortMapping> ports{};  // published to this address (the first network's)
        std::vector<std::string> aliases{};
        ipam::Address6 address6 = 0;  // 0 = none (no network has ::/8)
    };
    struct Record {
        std::string id, name, bridge, created_at;
        ipam::Subnet subnet;
        uint32_t gateway = 0;
        bool internal = false;
        std::map<std::string, std::string> labels;
        std::vector<Lease> leases;
        ipam::Subnet6 subnet6{};  // prefix 0 = IPv4 only
        ipam::Address6 gateway6 = 0;
        bool dual_stack() const { return subnet6.prefix != 0; }
    };

    std::string path_of(const std::string& name) const {
        return options_.dir + "/" + name + ".json";
    }
    void save(const Record& record) const;
    static Record parse(const std::string& text, const std::string& path);
    NetworkInfo info_of(const Record& record) const;
    std::vector<ipam::TakenSubnet> taken_subnets() const;           // under mutex_
    Record make_record(const NetworkCreateRequest& request) const;  // under mutex_
    void add(Record record);                                        // under mutex_
    // Makes table inet truman hold exactly the networks' rules and turns on forwarding on
    // their bridges and the uplinks (firewall.hpp), with the guard of IPv6 forwarding when
    // trumand turned it on. Under mutex_.
    void sync_firewall() const;
    // Checks ports against the request and the records, and reserves them on the host
    // (ports.hpp, unless !manage_bridges): the sockets that hold them. Fills in the ports the
    // kernel chose. Under mutex_.
    // dual: the network is dual stack, so 0.0.0.0 is held on :: too.
    std::vector<Fd> reserve_ports(std::vector<PortMapping>& ports, bool dual) const;
    // Binds again what the records publish (at start-up); logs what another program took.
    void hold_recorded_ports();                            // under mutex_
    void release_locked(const std::string& container_id);  // under mutex_
    // DNS (dns_server.hpp): whether r has a server, its configuration and names.
    bool has_dns(const Record& r) const { return dns_ && r.bridge != default_bridge_name; }
    DnsServerConfig dns_config(const Record& r) const;
    static std::vector<HostsEntry> dns_names(const Record& r);
    void start_dns_servers();  // at start-up, under mutex_
    // open()'s repair of lost leases; the records it changed. Under mutex_.
    std::set<std::string> restore_leases(const std::vector<RecordedAddress>& recorded);

    // The other containers on the networks container_id is on. Under mutex_.
    std::vector<BridgePort> attach_locked(const std::string& container_id,
                                          const std::string& container_name,
                                          const std::vector<NetworkAttachRequest>& requests,
                                          const std::vector<PortMapping>& publish);
    // The address a container gets on r: the next free one, or ip, checked (field names it).
    static uint32_t lease_address(const Record& r, const std::string& ip, const std::string& field);
    // Its IPv6 one on a dual stack network (0 on another; ip6 there is invalid).
    static ipam::Address6 lease_address6(const Record& r, const std::string& ip6,
                                         const std::string& field);
    // What inspect shows of lease l on r (network: r's name).
    static ContainerEndpoint endpoint_of(const std::string& network, const Lease& l,
                                         const Record& r);
    // The port of a container on r at interface index, as the monitor wires it.
    static BridgePort bridge_port_of(const Record& r, const std::string& container_id, size_t index,
                                     uint32_t address, ipam::Address6 address6, bool default_route);
    std::vector<ipam::TakenSubnet6> taken_subnets6() const;  // under mutex_
    std::set<std::string> peers_of(const std::string& container_id) const;
    void notify(const std::set<std::string>& ids) const;

    NetworkStoreOptions options_;
    std::function<void(const std::set<std::string>&)> peers_changed_;
    ipam::Subnet pool_;
    ipam::Subnet6 pool6_;
    mutable std::mutex mutex_;
    std::map<std::string, Record> networks_;
    // Records are replaced atomically on the request's path (enough against a crash of
    // trumand) and fsync'd by this just after, in batches (against a power loss).
    mutable BatchedSync synced_{"networks"};
    std::unique_ptr<DnsServers> dns_;  // null without options_.dns_dir
    // The sockets that hold each container's published ports (ports.hpp).
    std::map<std::string, std::vector<Fd>> port_holds_;
    // trumand turned IPv6 forwarding on (now or before a restart): the table guards it
    // (firewall.hpp). Under mutex_.
    mutable bool guards_forwarding6_ = false;
};

}  // namespace truman::daemon
