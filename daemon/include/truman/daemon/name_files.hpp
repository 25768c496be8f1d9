// A container's names: the /etc/hosts, /etc/hostname and /etc/resolv.conf the daemon writes
// for it. They live in the container's state directory and are bind-mounted (mount option
// "nofollow": a symlink the image has there is replaced, never followed) over the image's,
// so the container resolves its peers from files, with no daemon-side server: names keep
// resolving while trumand is stopped. A peer joining or leaving rewrites the hosts file in
// place (truncate + write), since a rename would swap the inode under the bind mount and
// never reach the running container. The file is derived from the network records, which
// are the state written atomically; a crash mid-write is repaired by the next rewrite (at the
// next start of trumand at the latest).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "truman/daemon/network_service.hpp"
#include "truman/spec.hpp"

namespace truman::daemon {

// Throws truman::Error (invalid) naming the field ("dns[1]", "extra_hosts[0]") for an
// address that is not IPv4/IPv6, a name that is not a host name, or white space in an option.
void validate_name_options(const NameOptions& options);
// Host names and aliases as resolvers take them: 1..253 of letters, digits, '-', '_', '.'.
void validate_host_name(const std::string& name, const std::string& field);

// A line of /etc/hosts.
struct HostsEntry {
    std::string address;  // without a prefix
    std::vector<std::string> names;
    bool operator==(const HostsEntry&) const = default;
};

// What the daemon keeps of a container's names, in <container dir>/names.json.
struct NameRecord {
    std::string name, hostname;
    NameOptions options;
};
nlohmann::json to_json(const NameRecord& record);
NameRecord name_record_from_json(const nlohmann::json& doc);  // throws truman::Error

// localhost lines, the extra hosts, the container itself (own: an entry per address, its
// hostname, name and aliases there), then its peers, one line per address.
std::string render_hosts(const NameRecord& record, const std::vector<HostsEntry>& own,
                         const std::vector<HostsEntry>& peers);
// The nameservers asked for, or the host's (host_resolv_conf's text) without the loopback
// ones (127.0.0.0/8, ::1: a stub resolver of the host cannot be reached from the container's
// namespace), and the search/options asked for or the host's.
std::string render_resolv_conf(const NameOptions& options, const std::string& host_resolv_conf);

// The host's resolver configuration: resolv_conf, or, when that names loopback servers only
// (systemd-resolved's stub), the real upstream list systemd-resolved keeps, as Docker does.
std::string host_resolv_conf(const std::string& resolv_conf = "/etc/resolv.conf",
                             const std::string& resolved_conf = "/run/systemd/resolve/resolv.conf");

// Rewrites an existing file in place (the same inode a bind mount shows). Throws
// truman::Error naming the path (not_found when there is no such file).
void write_file_in_place(const std::string& path, const std::string& content);

// A new file (O_EXCL), not synced: the names files are derived, and a container does not
// outlive a reboot that could lose them (fsyncing three more files per create cost more
// than the rest of it here). Throws truman::Error (system) naming the path.
void write_new_file(const std::string& path, const std::string& content);

// The paths of a container's names files inside its state directory.
struct NameFilePaths {
    std::string dir;
    std::string record() const { return dir + "/names.json"; }
    std::string hosts() const { return dir + "/hosts"; }
    std::string hostname() const { return dir + "/hostname"; }
    std::string resolv_conf() const { return dir + "/resolv.conf"; }
};

// The spec mounts that put the three files at /etc inside the container.
std::vector<Mount> name_file_mounts(const NameFilePaths& paths);

}  // namespace truman::daemon
