// The names files of the registry's containers (name_files.hpp has the model).
#include <spdlog/spdlog.h>

#include <filesystem>

#include "registry.hpp"
#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/name_files.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;

namespace truman::daemon {

namespace {

std::string render_hosts_of(const NetworkStore& networks, const std::string& id,
                            const NameRecord& record) {
    NetworkStore::HostsView view = networks.hosts_view(id);
    return render_hosts(record, view.own, view.peers);
}

}  // namespace

std::vector<Mount> ContainerRegistry::write_name_files(const std::string& id,
                                                       const NameRecord& record) {
    NameFilePaths paths{paths_of(id).dir()};
    std::vector<Mount> mounts = name_file_mounts(paths);
    // The record first: a peer's change that comes meanwhile then rewrites the hosts file too.
    // Replaced now, fsync'd in the batch after the reply (create waited for two fsyncs here).
    write_file_replace(paths.record(), to_json(record).dump(2) + "\n");
    sync_later(paths.record());
    {
        std::lock_guard lock(hosts_mutex_);
        write_new_file(paths.hosts(), render_hosts_of(*networks_, id, record));
    }
    // On a user-made network the network's DNS server (names of its peers, the rest
    // forwarded upstream), unless the container asked for servers of its own.
    NameOptions resolver = record.options;
    if (resolver.dns.empty()) resolver.dns = networks_->dns_servers_of(id);
    write_new_file(paths.resolv_conf(),
                   render_resolv_conf(resolver, host_resolv_conf(options_.resolv_conf)));
    if (record.hostname.empty()) {
        std::erase_if(mounts, [](const Mount& m) { return m.destination == "/etc/hostname"; });
    } else {
        write_new_file(paths.hostname(), record.hostname + "\n");
    }
    return mounts;
}

void ContainerRegistry::refresh_hosts(const std::set<std::string>& ids) {
    std::lock_guard lock(hosts_mutex_);
    for (const auto& id : ids) {
        NameFilePaths paths{paths_of(id).dir()};
        try {
            std::string text;
            try {
                text = read_whole_file(paths.record());
            } catch (const Error& e) {
                if (e.kind() == ErrorKind::not_found) continue;  // no names of ours, or gone
                throw;
            }
            NameRecord record = name_record_from_json(nlohmann::json::parse(text));
            write_file_in_place(paths.hosts(), render_hosts_of(*networks_, id, record));
        } catch (const Error& e) {
            if (e.kind() == ErrorKind::not_found) continue;  // removed meanwhile
            spdlog::error("container {}: rewrite its hosts file: {}", id, e.what());
        } catch (const std::exception& e) {
            // The container resolves its old peers until the next change or start-up.
            spdlog::error("container {}: rewrite its hosts file: {}", id, e.what());
        }
    }
}

void ContainerRegistry::refresh_all_hosts() {
    std::set<std::string> ids;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(containers_dir_, ec))
        ids.insert(e.path().filename().string());
    refresh_hosts(ids);
}

}  // namespace truman::daemon
