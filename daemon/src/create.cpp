#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "monitor_spawn.hpp"
#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/images/image_defaults.hpp"
#include "truman/daemon/images/local_images.hpp"
#include "truman/daemon/name_files.hpp"
#include "truman/daemon/names.hpp"
#include "truman/daemon/time_format.hpp"
#include "truman/error.hpp"
#include "truman/exec.hpp"
#include "truman/network.hpp"
#include "truman/signal_names.hpp"
#include "verbs.hpp"

namespace fs = std::filesystem;

namespace truman::daemon::verbs {

namespace {

// The image a container overlays, or nullopt for a container on a given rootfs (checked
// here). Errors name "rootfs": what the API calls spec.root.path for a container without an
// image.
std::optional<images::StoredImage> checked_root(const ContainerRegistry& registry,
                                                const CreateRequest& request) {
    const ContainerSpec& spec = request.spec;
    if (request.name) validate_name(*request.name);
    if (!request.image.empty() && !spec.root.path.empty())
        throw invalid_argument("image", "give an image or a rootfs, not both");
    if (request.image.empty() && spec.root.path.empty())
        throw invalid_argument("image", "give an image or a rootfs");
    if (spec.root.overlay)
        throw invalid_argument("root.overlay", "is set by the daemon for image containers");
    if (request.stdin_once && !request.open_stdin)
        throw invalid_argument("stdin_once", "needs open_stdin");
    if (!request.image.empty()) {
        std::optional<images::StoredImage> found;
        try {
            found = images::find_image(registry.image_store(), request.image);
        } catch (const Error& e) {
            // What is not a reference names no image: 404, as for any name the store lacks.
            if (e.kind() != ErrorKind::invalid || e.field() != "image") throw;
            throw Error(ErrorKind::not_found, ENOENT,
                        "no such image: " + request.image + " (" + e.reason() + ")");
        }
        if (!found)
            throw Error(ErrorKind::not_found, ENOENT,
                        "no such image: " + request.image + " (pull it first: trumanctl pull " +
                            request.image + ")");
        return found;
    }
    if (spec.root.path[0] != '/') throw invalid_argument("rootfs", "must be an absolute path");
    struct stat st {};
    if (stat(spec.root.path.c_str(), &st) < 0) {
        int err = errno;
        throw make_error(err == ENOENT ? ErrorKind::not_found : ErrorKind::system,
                         "rootfs: " + spec.root.path, err);
    }
    if (!S_ISDIR(st.st_mode))
        throw invalid_argument("rootfs", spec.root.path + " is not a directory");
    return std::nullopt;
}

// The named networks the container joins (network_service.hpp has the model).
std::vector<NetworkAttachRequest> networks_to_join(const ContainerRegistry& registry,
                                                   const CreateRequest& request) {
    const ContainerSpec& spec = request.spec;
    bool own_netns = false;
    for (const auto& ns : spec.linux.namespaces)
        if (ns.type == NamespaceType::network && ns.path.empty()) own_netns = true;
    if (!request.networks) {
        const std::string& fallback = registry.options().default_network;
        if (fallback.empty() || !own_netns || !(spec.network == Network{})) return {};
        return {{fallback, ""}};
    }
    if (request.networks->empty()) return {};
    if (!own_netns)
        throw invalid_argument("networks", "needs a network namespace of the container's own");
    if (!(spec.network == Network{}))
        throw invalid_argument("networks", "give network or networks, not both");
    return *request.networks;
}

// Labels (the request's over the image's), ExposedPorts and StopSignal: what the container
// keeps of its image's config besides the process.
void apply_image_metadata(const images::ImageConfig* config, const CreateRequest& request,
                          ContainerMeta* meta) {
    for (const auto& [key, value] : request.labels)
        if (key.empty()) throw invalid_argument("labels", "a label needs a name");
    if (config) {
        meta->labels = config->labels;
        meta->exposed_ports = config->exposed_ports;
        if (!config->stop_signal.empty()) {
            auto number = parse_signal_name(config->stop_signal);
            if (!number)
                throw invalid_argument("image", "its config's StopSignal: " +
                                                    unknown_signal_reason(config->stop_signal));
            meta->stop_signal = *number;
        }
    }
    for (const auto& [key, value] : request.labels) meta->labels[key] = value;
}

}  // namespace

std::string create(ContainerRegistry& registry, const CreateRequest& request) {
    std::optional<images::StoredImage> image = checked_root(registry, request);
    ContainerSpec spec = request.spec;
    // The image's layers, top-most first, as overlayfs stacks its lowers.
    std::vector<std::string> layers;
    const images::ImageStore& store = registry.image_store();
    if (image)
        for (auto it = image->layer_links.rbegin(); it != image->layer_links.rend(); ++it)
            layers.push_back(*it);
    {
        std::vector<std::string> layer_dirs;
        layer_dirs.reserve(layers.size() + 1);
        for (const auto& link : layers) layer_dirs.push_back(store.links_dir() + "/" + link);
        // A rootfs is a one-layer image whose only default is the command it was given.
        images::ImageConfig rootfs_defaults;
        if (!image) {
            layer_dirs.push_back(spec.root.path);
            rootfs_defaults.cmd = request.spec.process.args;
        }
        spec.process = images::process_from_image(image ? image->config : rootfs_defaults, request,
                                                  layer_dirs);
    }

    std::string id = generate_id();
    std::string name = registry.reserve_name(request.name);
    ContainerPaths paths = registry.paths_of(id);
    // Undo everything unless the monitor reported success.
    struct Cleanup {
        ContainerRegistry& registry;
        std::string id, name, dir;
        bool armed = true;
        bool leased = false;
        ~Cleanup() {
            if (!armed) return;
            if (leased) {
                try {
                    registry.networks().release(id);
                } catch (const std::exception& e) {
                    // The directory goes below: the next start drops the lease.
                    spdlog::error("create {}: release its addresses: {}", name, e.what());
                }
            }
            std::error_code ec;
            fs::remove_all(dir, ec);
            if (ec) spdlog::error("create {}: remove {}: {}", name, dir, ec.message());
            registry.lock().release_name(name);
        }
    } cleanup{registry, id, name, paths.dir()};

    if (mkdir(paths.dir().c_str(), 0700) < 0) throw system_error("mkdir " + paths.dir());
    if (image) {
        for (const auto& d : {paths.upper(), paths.work(), paths.rootfs()})
            if (mkdir(d.c_str(), 0755) < 0) throw system_error("mkdir " + d);
        spec.root.path = paths.rootfs();
        std::string lower;
        for (const auto& link : layers) lower += (lower.empty() ? "" : ":") + link;
        spec.root.overlay = Overlay{lower, paths.upper(), paths.work(), store.links_dir()};
    }
    // Like Docker: a container's hostname is its short id unless told otherwise.
    if (spec.hostname.empty() && spec.has_namespace(NamespaceType::uts))
        spec.hostname = id.substr(0, 12);
    validate(spec);
    validate_name_options(request.names);
    const bool own_netns =
        spec.has_namespace(NamespaceType::network) &&
        std::none_of(spec.linux.namespaces.begin(), spec.linux.namespaces.end(),
                     [](const Namespace& ns) {
                         return ns.type == NamespaceType::network && !ns.path.empty();
                     });
    if (!own_netns && !(request.names == NameOptions{}))
        throw invalid_argument("dns", "needs a network namespace of the container's own");
    std::vector<NetworkAttachRequest> join = networks_to_join(registry, request);
    if (!request.ports.empty() && join.empty())
        throw invalid_argument("ports", "publishing a port needs a network to publish from");
    if (!join.empty()) {
        // Recorded on disk before the monitor can use them: never handed out twice. The
        // ports too, with their rules in place before the container runs.
        spec.network.bridges = registry.networks().attach(id, name, join, request.ports);
        cleanup.leased = true;
        spec.network.mode = Network::Mode::bridge;
        validate_network(spec);
    }

    if (own_netns) {
        // The container's names; a mount of the spec's own on one of those paths wins.
        for (auto& m : registry.write_name_files(id, {name, spec.hostname, request.names})) {
            bool taken = std::any_of(spec.mounts.begin(), spec.mounts.end(), [&](const Mount& o) {
                return o.destination == m.destination;
            });
            if (!taken) spec.mounts.push_back(std::move(m));
        }
    }

    ContainerMeta meta{id, name, request.image, spec.root.path, spec.process.args, rfc3339_now()};
    meta.open_stdin = request.open_stdin;
    meta.stdin_once = request.stdin_once;
    meta.tty = request.tty;
    apply_image_metadata(image ? &image->config : nullptr, request, &meta);
    // Replaced, not yet fsync'd: both are synced once the reply has left (sync_later below).
    write_file_replace(paths.config(), spec_to_json(spec).dump(2) + "\n");
    write_meta(paths, meta);

    MonitorLaunch launch;
    launch.monitor_path = registry.options().monitor_path;
    launch.container_dir = paths.dir();
    launch.run_dir = registry.run_dir_of(id);
    launch.log_file = paths.monitor_log();
    launch.log_max_bytes = registry.options().log_max_bytes;
    launch.sealed_copy = exec_needs_sealed_copy(spec);
    MonitorReply report = spawn_monitor(launch);
    throw_if_failed(report);

    {
        auto locked = registry.lock();
        Entry& entry = locked.insert(meta);
        entry.layers = layers;
        try {
            entry.stored = read_state(paths);
        } catch (const Error& e) {
            spdlog::error("{}: {}", id, e.what());
            entry.stored.state.status = Status::created;
            entry.stored.state.pid = report.pid;
            entry.stored.monitor_pid = report.monitor_pid;
        }
        locked.release_name(name);
        cleanup.armed = false;
        locked.publish("create", meta);
        if (!locked.watch(id, entry))
            boost::asio::post(registry.io(), [registry = registry.shared_from_this(), id] {
                registry->monitor_exited(id, nullptr);
            });
    }
    registry.sync_later(paths.config());
    registry.sync_later(paths.meta());
    registry.sync_later(paths.state());
    spdlog::info("created container {} ({})", id, name);
    return id;
}

}  // namespace truman::daemon::verbs
