// trumand: flags, the listening socket, io threads, signals and systemd readiness around the
// API server and the container service. Containers outlive trumand: their monitors are
// independent processes, so stopping (or killing) the daemon leaves them running.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "listen_socket.hpp"
#include "sd_notify.hpp"
#include "truman/api/handlers.hpp"
#include "truman/api/server.hpp"
#include "truman/daemon/make_service.hpp"
#include "truman/error.hpp"

namespace {

struct Options {
    std::string socket = "/run/truman.sock";
    std::string state_dir = "/var/lib/truman";
    std::string run_dir = "/run/truman";
    std::string log_level = "info";
    std::string group = "truman";
    // Connections are served asynchronously: two threads keep both cores busy.
    unsigned io_threads = 2;
    // create/start/kill/delete wait for the container's monitor (fork, exec, namespaces,
    // mounts): they run on these, so that a burst of creates never stalls a ping or an inspect,
    // and this many containers can be set up at once.
    unsigned worker_threads = 8;
    unsigned shutdown_grace_ms = 5000;
    // The network a container joins when it asks for none, made (bridge truman0) at the first
    // start, as Docker's docker0: what a user of `docker run` expects. "none": loopback only.
    std::string default_network = "truman";
    std::string network_pool = "10.89.0.0/16";
    unsigned network_pool_prefix = 24;
    std::string network_pool6 = "fd00::/8";
    std::vector<std::string> insecure_registries;
    std::string registry_auth_file = "/etc/truman/auth.json";
    std::string registry_certs_dir = "/etc/truman/certs.d";
    std::string resolv_conf = "/etc/resolv.conf";
};

int run(const Options& options) {
    namespace net = boost::asio;
    using namespace truman;

    net::io_context io;
    daemon::ServiceOptions service_options{options.state_dir, options.run_dir, ""};
    if (options.default_network != "none")
        service_options.default_network = options.default_network;
    service_options.network_pool = options.network_pool;
    service_options.network_pool_prefix = options.network_pool_prefix;
    service_options.network_pool6 = options.network_pool6;
    service_options.insecure_registries = options.insecure_registries;
    service_options.registry_auth_file = options.registry_auth_file;
    service_options.registry_certs_dir = options.registry_certs_dir;
    service_options.resolv_conf = options.resolv_conf;
    std::unique_ptr<daemon::ContainerService> service =
        daemon::make_container_service(io, service_options);

    // Declared after the service and joined before it goes: its tasks call the service.
    net::thread_pool workers(options.worker_threads);
    api::Router router;
    api::ApiOptions api_options;
    api_options.version = TRUMAN_VERSION;
    api_options.run_blocking = [&workers](std::function<void()> call) {
        net::post(workers, std::move(call));
    };
    api::add_v1_routes(router, *service, api_options);

    int listen_fd;
    std::optional<gid_t> group;
    bool own_socket_file = false;
    if (auto fd = trumand::activated_socket()) {
        listen_fd = *fd;
        group = trumand::socket_group(listen_fd);
        spdlog::info("listening on the socket systemd passed (fd {})", listen_fd);
    } else {
        auto bound = trumand::bind_socket(options.socket, options.group);
        listen_fd = bound.fd;
        group = bound.group;
        own_socket_file = true;
        spdlog::info("listening on {} (mode {:o}{})", options.socket, bound.mode,
                     group ? ", group " + options.group : "");
    }

    api::Server server(io, listen_fd, router, api::ServerLimits{},
                       [group](const api::PeerCredentials& peer) {
                           return trumand::peer_allowed(peer.uid, peer.gid, group);
                       });
    server.start();

    net::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        spdlog::info("{}: shutting down (containers keep running)", sigabbrev_np(signal));
        trumand::sd_notify("STOPPING=1");
        server.shutdown(std::chrono::milliseconds(options.shutdown_grace_ms), [&io] { io.stop(); });
    });

    trumand::sd_notify("READY=1");
    spdlog::info("trumand {} ready", TRUMAN_VERSION);

    std::vector<std::thread> threads;
    for (unsigned i = 1; i < options.io_threads; ++i) threads.emplace_back([&io] { io.run(); });
    io.run();
    io.stop();
    for (auto& t : threads) t.join();
    // A create in flight finishes (its monitor and container are then on disk for the next
    // trumand); its answer has nowhere to go any more.
    workers.join();

    if (own_socket_file) unlink(options.socket.c_str());
    spdlog::info("stopped");
    return 0;
}

}  // namespace

static int trumand_main(int argc, char** argv) {
    Options options;
    CLI::App app{"trumand: the truman container daemon (HTTP/JSON API on a Unix socket)"};
    app.set_config("--config", "", "read these options from a TOML/INI file (same keys)");
    app.add_option("--socket", options.socket, "Unix socket to listen on")->capture_default_str();
    app.add_option("--state-dir", options.state_dir, "container state")->capture_default_str();
    app.add_option("--insecure-registry", options.insecure_registries,
                   "a registry (host[:port]) to pull from over plain HTTP; repeatable");
    // Like podman's: $REGISTRY_AUTH_FILE names the auth file unless the flag does.
    // Read before any thread exists, so nothing can change the environment meanwhile.
    if (const char* env = std::getenv("REGISTRY_AUTH_FILE");  // NOLINT(concurrency-mt-unsafe)
        env && *env)
        options.registry_auth_file = env;
    app.add_option("--registry-auth", options.registry_auth_file,
                   "docker-style auth file with registry credentials ($REGISTRY_AUTH_FILE)")
        ->capture_default_str();
    app.add_option("--registry-certs-dir", options.registry_certs_dir,
                   "per-registry CAs: <dir>/<host:port>/ca.crt (and client.cert, client.key)")
        ->capture_default_str();
    app.add_option("--run-dir", options.run_dir, "runtime files (monitor sockets, pids)")
        ->capture_default_str();
    app.add_option("--log-level", options.log_level,
                   "trace, debug, info, warn, error, critical, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
        ->capture_default_str();
    app.add_option("--group", options.group,
                   "group that may use the socket (mode 0660) if it exists; else 0600, root only")
        ->capture_default_str();
    app.add_option("--io-threads", options.io_threads, "threads serving connections")
        ->check(CLI::Range(1, 16))
        ->capture_default_str();
    app.add_option("--worker-threads", options.worker_threads,
                   "threads running create/start/kill/delete (how many containers are set up "
                   "at once)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    app.add_option("--shutdown-grace-ms", options.shutdown_grace_ms,
                   "on SIGTERM, how long requests in flight may take to finish")
        ->capture_default_str();
    app.add_option("--default-network", options.default_network,
                   "the network containers join unless they ask otherwise (made at the first "
                   "start, bridge truman0), or none for loopback only")
        ->capture_default_str();
    app.add_option("--network-pool", options.network_pool,
                   "IPv4 block new networks' subnets are chosen from")
        ->capture_default_str();
    app.add_option("--network-pool-prefix", options.network_pool_prefix,
                   "prefix length of each subnet chosen from the pool")
        ->check(CLI::Range(1, 30))
        ->capture_default_str();
    app.add_option("--network-pool6", options.network_pool6,
                   "IPv6 block the /64 of a network created with ipv6 true and no subnet6 is "
                   "chosen from")
        ->capture_default_str();
    app.add_option("--resolv-conf", options.resolv_conf,
                   "the host's resolver configuration: containers' nameservers and where the "
                   "networks' DNS servers forward to (loopback servers left out)")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    auto logger = spdlog::stderr_color_mt("trumand");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(options.log_level));

    // A client that hangs up mid-response must cost us an EPIPE, not the process.
    signal(SIGPIPE, SIG_IGN);
    try {
        return run(options);
    } catch (const truman::Error& e) {
        spdlog::critical("{}", e.what());
        return 1;
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
}

int main(int argc, char** argv) {
    try {
        return trumand_main(argc, argv);
    } catch (const std::exception& e) {  // before the logger exists, or from the flags
        std::fprintf(stderr, "trumand: %s\n", e.what());
        return 1;
    }
}
