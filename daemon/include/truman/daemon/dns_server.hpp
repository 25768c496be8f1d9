// The DNS server of each user-made network: Debian's dnsmasq, one process per network,
// listening on the network's gateway address only, and on a dual stack network on its IPv6
// gateway too (bind-interfaces; the firewall drops what comes for either from any other
// device, firewall.hpp). It answers the names of the network's
// containers and their aliases from a hosts file trumand keeps current, and forwards other
// names to the host's upstream servers (none for an internal network).
//
// It is not a thread of trumand: trumand starts it detached (posix_spawn into a session of
// its own; dnsmasq forks into the background once it listens and writes its pid file), so it
// keeps answering while trumand is down or restarting. trumand finds it again by that pid
// file and the process's command line (which names the network's configuration file), never
// by a process name, so a restart starts no second one and stops nobody else's dnsmasq.
//
// It runs as an unprivileged account once it listens (DnsAccount: Debian's `dnsmasq`, else
// nobody), and reads the names again as that account whenever they change, so the one path
// it needs is open to that account's group and nothing else is. Its files, under
// <run-dir>/dns/<network>/ (tmpfs: a reboot takes them with the process):
//   <run-dir>/, dns/, <network>/   root:<group> 0710 (the group may pass, not list)
//   dnsmasq.conf   root 0600: everything dnsmasq is told (its command line is --conf-file
//                  alone), read while it is still root
//   dnsmasq.pid    written by dnsmasq while it is still root
//   dnsmasq.log    its start-up messages and errors (dnsmasq makes it its account's)
//   hosts/         root:<group> 0750
//   hosts/hosts    root:<group> 0640: the names; dnsmasq watches hosts/ by inotify
//                  (--hostsdir) and drops the old file's names when a new one is renamed
//                  in, so an update needs no signal.
// When a directory above <run-dir> (not trumand's to change) keeps that account out,
// dnsmasq stays root, as a warning in trumand's log says.
#pragma once

#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

#include "truman/daemon/name_files.hpp"

namespace truman::daemon {

struct DnsServerPaths {
    std::string dir;  // <run-dir>/dns/<network>
    std::string conf() const { return dir + "/dnsmasq.conf"; }
    std::string pid_file() const { return dir + "/dnsmasq.pid"; }
    std::string log() const { return dir + "/dnsmasq.log"; }
    std::string hosts_dir() const { return dir + "/hosts"; }
    std::string hosts() const { return hosts_dir() + "/hosts"; }
};

struct DnsServerConfig {
    std::string network;
    std::string listen_address;         // the network's gateway, IPv4
    std::vector<std::string> upstream;  // where other names go; none: local names only
    std::string listen_address6{};      // its IPv6 gateway on a dual stack network, else ""
};

// Whom dnsmasq runs as after it bound its sockets (its user= and group=).
struct DnsAccount {
    std::string user = "root", group = "root";
    uid_t uid = 0;
    gid_t gid = 0;
};
// The account of the host's passwd/group: `dnsmasq` (Debian's dnsmasq-base makes it, with
// nogroup as its group; a group `dnsmasq`, where there is one, is preferred), else
// nobody/nogroup, else root.
DnsAccount find_dns_account();

// dnsmasq's configuration for one network. Pure (unit tested).
std::string render_dnsmasq_conf(const DnsServerConfig& config, const DnsServerPaths& paths,
                                const DnsAccount& account = {});
// "address\tname alias...\n" per entry. Pure.
std::string render_dns_hosts(const std::vector<HostsEntry>& entries);
// The nameservers of a resolv.conf text, without loopback ones (a stub resolver on the
// host's 127.0.0.53 is no upstream for a server that answers containers). Pure.
std::vector<std::string> upstream_servers(const std::string& resolv_conf_text);

class DnsServers {
  public:
    // dir: <run-dir>/dns; dnsmasq: the binary; account: whom it runs as.
    explicit DnsServers(std::string dir, std::string dnsmasq = "/usr/sbin/dnsmasq",
                        DnsAccount account = find_dns_account());

    // Makes sure network's server runs with exactly this configuration and these names: one
    // already running so (after a restart of trumand) is kept; one with another configuration
    // (the host's upstream servers changed) is replaced. Throws truman::Error (system) with
    // dnsmasq's own message when it does not start.
    void ensure(const DnsServerConfig& config, const std::vector<HostsEntry>& names);
    // Replaces the network's names (atomically: written beside hosts/ and renamed into it).
    // Throws truman::Error (system) naming the file.
    void set_names(const std::string& network, const std::vector<HostsEntry>& names) const;
    // Stops network's server (SIGTERM, SIGKILL after 3 s) and removes its files; nothing when
    // there is none. Throws truman::Error (system) when it cannot be stopped.
    void stop(const std::string& network);
    // Stops the servers of networks not in keep (networks removed while trumand was down);
    // logs what it cannot stop.
    void stop_all_but(const std::set<std::string>& keep);
    // The pid of network's server, 0 when none runs.
    pid_t pid_of(const std::string& network) const;

    DnsServerPaths paths_of(const std::string& network) const { return {dir_ + "/" + network}; }

  private:
    // Makes network's directories and gives the account's group its way to hosts/; the
    // account dnsmasq can run as (root when an ancestor that is not ours keeps it out).
    DnsAccount prepare(const std::string& network) const;
    void start(const DnsServerConfig& config, const DnsAccount& account);
    std::string dir_;
    std::string dnsmasq_;
    DnsAccount account_;
};

}  // namespace truman::daemon
