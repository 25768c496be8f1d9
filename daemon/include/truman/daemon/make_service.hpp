// The container service trumand runs: ContainerService (service.hpp) backed by one
// truman-monitor process per container and by state on disk. Only a composition root (cmd/)
// and the service's own tests make one; front-ends get a ContainerService&.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "truman/daemon/service.hpp"

namespace truman::daemon {

struct ServiceOptions {
    std::string state_dir = "/var/lib/truman";
    std::string run_dir = "/run/truman";
    std::string monitor_path;  // truman-monitor binary; default: next to /proc/self/exe
    // Added by the daemon: the static busybox the default image "busybox" is built from, and
    // the cap of each container.log (0 = 10 MiB; one rotated file is kept besides).
    std::string busybox_path = "/bin/busybox";
    uint64_t log_max_bytes = 0;
    // Networks (network_service.hpp): the one a container joins when it asks for none ("" =
    // loopback only, today's default), and the pool new networks' subnets come from.
    std::string default_network{};
    std::string network_pool = "10.89.0.0/16";
    unsigned network_pool_prefix = 24;
    std::string network_pool6 = "fd00::/8";  // IPv6 subnets (/64) of `ipv6: true` networks
    // Where a container's /etc/resolv.conf comes from when it asks for no dns servers.
    std::string resolv_conf = "/etc/resolv.conf";
    // Pulls: the registries spoken to over plain HTTP besides localhost and 127.0.0.0/8, and
    // a docker-style auth file (config.json / auth.json) with their credentials.
    std::vector<std::string> insecure_registries{};
    std::string registry_auth_file{};
    // Per-registry CAs (and client certificates), as Docker's certs.d: <dir>/<host:port>/ca.crt.
    std::string registry_certs_dir{};
};

// Finds every container again from disk when constructed (after a restart). Callbacks run on
// io.
std::unique_ptr<ContainerService> make_container_service(boost::asio::io_context& io,
                                                         const ServiceOptions& options);

}  // namespace truman::daemon
