// The image verbs over the registry's image store: pull (on a thread of its own, reporting on
// the io_context), list, inspect and remove, with the removal's garbage collection.
#include "image_verbs.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <filesystem>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

#include "callbacks.hpp"
#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/images/archive.hpp"
#include "truman/daemon/images/digest.hpp"
#include "truman/daemon/images/local_images.hpp"
#include "truman/daemon/images/pull.hpp"
#include "truman/daemon/images/reference.hpp"
#include "truman/error.hpp"
#include "truman/spec.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace truman::daemon::verbs {

namespace {

ImageInfo info_of(const images::ImageStore& store, const images::StoredImage& image) {
    ImageInfo info;
    info.id = image.id;
    info.manifest_digest = image.manifest_digest;
    std::set<std::string> repositories;
    for (const auto& [ref, manifest] : store.refs()) {
        if (manifest != image.manifest_digest) continue;
        info.tags.push_back(ref);
        try {
            repositories.insert(images::parse_reference(ref).name());
        } catch (const Error&) {
        }
    }
    for (const auto& name : repositories)
        info.repo_digests.push_back(name + "@" + image.manifest_digest);
    const images::ImageConfig& config = image.config;
    info.created = config.created;
    info.size = image.size;
    info.layers = image.layer_links.size();
    info.diff_ids = config.diff_ids;
    info.os = config.os;
    info.architecture = config.architecture;
    info.variant = config.variant;
    info.entrypoint = config.entrypoint;
    info.cmd = config.cmd;
    info.env = config.env;
    info.working_dir = config.working_dir;
    info.user = config.user;
    info.stop_signal = config.stop_signal;
    info.exposed_ports = config.exposed_ports;
    info.labels = config.labels;
    return info;
}

// The short names of the layers every container's overlay stacks, as the registry keeps
// them (Entry::layers): an O(n) walk in memory, no file read per container.
std::set<std::string> layers_in_use(ContainerRegistry& registry) {
    std::set<std::string> links;
    auto locked = registry.lock();
    for (const auto& [id, entry] : locked.entries()) {
        // Keep everything rather than delete a layer a container we cannot read may use.
        if (!entry.layers_known)
            throw make_error(ErrorKind::system,
                             "image removal: container " + id + "'s config could not be read");
        links.insert(entry.layers.begin(), entry.layers.end());
    }
    return links;
}

// Delete the layers and blobs that neither an image nor a container refers to.
void collect_garbage(ContainerRegistry& registry) {
    images::ImageStore& store = registry.image_store();
    std::set<std::string> keep_links = layers_in_use(registry);
    std::set<std::string> image_links, keep_blobs;
    for (const auto& [ref, manifest] : store.refs()) {
        images::StoredImage image = images::load_image(store, manifest);
        keep_blobs.insert(manifest);
        keep_blobs.insert(image.id);
        for (const auto& l : image.manifest.layers) keep_blobs.insert(l.digest);
        image_links.insert(image.layer_links.begin(), image.layer_links.end());
    }
    // A layer only a container holds becomes garbage with that container's removal.
    bool garbage_left = std::any_of(keep_links.begin(), keep_links.end(),
                                    [&](const std::string& l) { return !image_links.count(l); });
    keep_links.insert(image_links.begin(), image_links.end());
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(store.root() + "/layers", ec)) {
        std::string link;
        try {
            link = read_whole_file(entry.path().string() + "/link");
        } catch (const Error&) {
            continue;
        }
        while (!link.empty() && link.back() == '\n') link.pop_back();
        if (keep_links.count(link)) continue;
        // Out of sight first (one rename), then deleted: a crash leaves it in tmp/, which
        // the next open empties.
        std::string doomed = store.root() + "/tmp/gc-" + entry.path().filename().string();
        if (rename(entry.path().c_str(), doomed.c_str()) < 0) {
            spdlog::error("image gc: rename {}: {}", entry.path().string(), errno_text(errno));
            garbage_left = true;
            continue;
        }
        unlink((store.links_dir() + "/" + link).c_str());
        fs::remove_all(doomed, ec);
        spdlog::info("image gc: removed layer {} (l/{})", entry.path().filename().string(), link);
    }
    for (const auto& entry : fs::directory_iterator(store.root() + "/blobs/sha256", ec)) {
        std::string digest = "sha256:" + entry.path().filename().string();
        if (!images::is_valid_digest(digest) || keep_blobs.count(digest)) continue;
        fs::remove(entry.path(), ec);
    }
    registry.image_garbage_possible() = garbage_left;
}

}  // namespace

std::vector<std::string> overlay_layers(const ContainerSpec& spec) {
    std::vector<std::string> links;
    if (!spec.root.overlay || spec.root.overlay->layer_dir.empty()) return links;
    const std::string& lower = spec.root.overlay->lower;
    for (size_t begin = 0; begin <= lower.size();) {
        size_t end = std::min(lower.find(':', begin), lower.size());
        links.push_back(lower.substr(begin, end - begin));
        begin = end + 1;
    }
    return links;
}

void pull_image(ContainerRegistry& registry, const PullRequest& request,
                std::function<void(const PullProgressEvent&)> on_progress,
                std::function<void(std::exception_ptr, ImageInfo)> done) {
    images::parse_reference(request.ref, "ref");
    images::PullOptions options;
    if (!request.platform.empty()) options.platform = images::parse_platform(request.platform);
    options.insecure_registries = registry.options().insecure_registries;
    options.auth_file = registry.options().registry_auth_file;
    options.certs_dir = registry.options().registry_certs_dir;
    // A pull blocks on the network for as long as it takes: its own thread, which holds the
    // registry (and so the store) alive until it is done. Its events go out through one
    // strand: the io_context has several threads, and a client draws a row per layer in the
    // order the layers' first events come (the manifest's) and expects the image line last.
    auto strand = asio::make_strand(registry.io());
    std::thread([registry = registry.shared_from_this(), request, options, strand,
                 on_progress = std::move(on_progress), done = std::move(done)] {
        std::exception_ptr error;
        ImageInfo info;
        try {
            std::shared_lock gc(registry->image_gc_mutex());
            images::StoredImage image = images::pull_image(
                registry->image_store(), request.ref, options, [&](const images::PullProgress& p) {
                    PullProgressEvent event{p.layer, p.status, p.done, p.total};
                    asio::post(strand, [on_progress, event] {
                        call_safely("pull progress", on_progress, event);
                    });
                });
            // Its tag may have named another image before.
            registry->image_garbage_possible() = true;
            info = info_of(registry->image_store(), image);
        } catch (const std::exception& e) {
            spdlog::error("pull {}: {}", request.ref, e.what());
            error = std::current_exception();
        }
        // Layers of the image that made it into the store before the failure are nobody's.
        if (error) collect_image_garbage(*registry);
        asio::post(strand, [done, error, info] { call_safely("pull", done, error, info); });
    }).detach();
}

std::vector<ImageInfo> list_images(ContainerRegistry& registry) {
    const images::ImageStore& store = registry.image_store();
    std::set<std::string> seen;
    std::vector<ImageInfo> out;
    for (const auto& [ref, manifest] : store.refs()) {
        if (!seen.insert(manifest).second) continue;
        try {
            out.push_back(info_of(store, images::load_image(store, manifest)));
        } catch (const Error& e) {
            spdlog::error("image {}: {}", ref, e.what());
        }
    }
    return out;
}

ImageInfo inspect_image(ContainerRegistry& registry, const std::string& ref) {
    auto image = images::find_image(registry.image_store(), ref);
    if (!image) throw Error(ErrorKind::not_found, ENOENT, "no such image: " + ref);
    return info_of(registry.image_store(), *image);
}

void remove_image(ContainerRegistry& registry, const std::string& ref, bool force) {
    images::ImageRef parsed = images::parse_reference(ref, "ref");
    images::ImageStore& store = registry.image_store();
    std::unique_lock gc(registry.image_gc_mutex());
    if (!store.find_ref(parsed)) throw Error(ErrorKind::not_found, ENOENT, "no such image: " + ref);
    std::vector<std::string> users;
    {
        auto locked = registry.lock();
        for (const auto& [id, entry] : locked.entries()) {
            if (entry.meta.image.empty()) continue;
            try {
                if (images::parse_reference(entry.meta.image).str() == parsed.str())
                    users.push_back(entry.meta.name);
            } catch (const Error&) {
            }
        }
    }
    if (!users.empty() && !force)
        throw make_error(ErrorKind::conflict, "image " + parsed.str() + " is used by container " +
                                                  users.front() + " (remove it, or force)");
    store.remove_ref(parsed);
    spdlog::info("untagged {}", parsed.str());
    collect_garbage(registry);
}

void collect_image_garbage(ContainerRegistry& registry) {
    auto collect = [](ContainerRegistry& r) {
        try {
            collect_garbage(r);
        } catch (const std::exception& e) {
            spdlog::error("image gc after a container's removal: {}", e.what());
        }
    };
    // One queued collection covers this removal: it reads the layers in use after taking the
    // lock. Without this, every removal that met a pull or a collection started its own thread.
    if (registry.image_gc_queued().exchange(true)) return;
    std::unique_lock gc(registry.image_gc_mutex(), std::try_to_lock);
    if (gc.owns_lock()) {
        registry.image_gc_queued() = false;
        collect(registry);
        return;
    }
    std::thread([registry = registry.shared_from_this(), collect] {
        std::unique_lock later(registry->image_gc_mutex());
        // Cleared before reading what is in use: a removal from now on queues its own.
        registry->image_gc_queued() = false;
        collect(*registry);
    }).detach();
}

namespace {

// A registry as references name it ("127.0.0.1:5000", "docker.io"), or invalid.
void validate_registry_name(const std::string& name) {
    bool ok = !name.empty() && name.find('/') == std::string::npos;
    if (ok) {
        try {
            ok = images::parse_reference(name + "/x").domain == name;
        } catch (const Error&) {
            ok = false;
        }
    }
    if (!ok)
        throw invalid_argument("registry", "must be a registry's host[:port] (\"" + name +
                                               "\"), as an image reference names it");
}

std::string auth_file_of(ContainerRegistry& registry) {
    const std::string& file = registry.options().registry_auth_file;
    if (file.empty()) throw make_error(ErrorKind::unsupported, "trumand has no auth file");
    return file;
}

}  // namespace

void login_registry(ContainerRegistry& registry, const LoginRequest& request) {
    validate_registry_name(request.registry);
    if (request.username.empty() || request.username.find(':') != std::string::npos)
        throw invalid_argument("username", "must be non-empty, without ':'");
    if (request.password.empty()) throw invalid_argument("password", "must not be empty");
    std::string auth_file = auth_file_of(registry);
    images::PullOptions options;
    options.insecure_registries = registry.options().insecure_registries;
    options.certs_dir = registry.options().registry_certs_dir;
    images::check_login(request.registry, request.username, request.password, options);
    images::store_credentials(auth_file, request.registry, request.username, request.password);
    registry.sync_later(auth_file);
    spdlog::info("login to {} as {}", request.registry, request.username);
}

void logout_registry(ContainerRegistry& registry, const std::string& name) {
    validate_registry_name(name);
    std::string auth_file = auth_file_of(registry);
    if (!images::remove_credentials(auth_file, name))
        throw Error(ErrorKind::not_found, ENOENT,
                    "not logged in to " + name + " (nothing for it in " + auth_file + ")");
    registry.sync_later(auth_file);
    spdlog::info("logout from {}", name);
}

ImageInfo tag_image(ContainerRegistry& registry, const std::string& ref,
                    const std::string& new_ref) {
    images::ImageRef target = images::parse_reference(new_ref, "tag");
    images::ImageStore& store = registry.image_store();
    // Shared with pulls, exclusive of a removal's garbage collection, which could otherwise
    // delete the image between the lookup and the new name.
    std::shared_lock gc(registry.image_gc_mutex());
    auto image = images::find_image(store, ref);
    if (!image) throw Error(ErrorKind::not_found, ENOENT, "no such image: " + ref);
    store.set_ref(target, image->manifest_digest);
    registry.image_garbage_possible() = true;  // new_ref may have named another image
    spdlog::info("tagged {} as {}", ref, target.str());
    return info_of(store, *image);
}

std::vector<ImageInfo> import_images(ContainerRegistry& registry, const ImageSource& source,
                                     const std::string& tag) {
    if (!tag.empty()) images::parse_reference(tag, "tag");
    images::ImageStore& store = registry.image_store();
    std::vector<images::ImportedImage> imported;
    try {
        std::shared_lock gc(registry.image_gc_mutex());
        images::ImportOptions options;
        options.tag = tag;
        imported = images::import_archive(store, source, options);
        registry.image_garbage_possible() = true;  // its tags may have named other images
    } catch (const std::exception& e) {
        spdlog::error("image import: {}", e.what());
        // Layers of the archive that made it into the store before the failure are
        // nobody's: the collection removes them (and nothing anyone uses).
        try {
            std::unique_lock gc(registry.image_gc_mutex());
            collect_garbage(registry);
        } catch (const std::exception& gc_error) {
            spdlog::error("image import: garbage collection: {}", gc_error.what());
        }
        throw;
    }
    std::vector<ImageInfo> out;
    out.reserve(imported.size());
    for (const auto& i : imported) out.push_back(info_of(store, i.image));
    return out;
}

ImageExporter export_image(ContainerRegistry& registry, const std::string& ref) {
    {
        std::shared_lock gc(registry.image_gc_mutex());
        auto image = images::find_image(registry.image_store(), ref);
        if (!image) throw Error(ErrorKind::not_found, ENOENT, "no such image: " + ref);
        images::check_exportable(registry.image_store(), *image);
    }
    return [registry = registry.shared_from_this(), ref](const ImageSink& sink) {
        // Held while writing: a removal's collection must not delete a blob half sent.
        std::shared_lock gc(registry->image_gc_mutex());
        images::ImageStore& store = registry->image_store();
        auto image = images::find_image(store, ref);
        if (!image) throw Error(ErrorKind::not_found, ENOENT, "no such image: " + ref);
        images::export_archive(store, *image, info_of(store, *image).tags, sink);
    };
}

}  // namespace truman::daemon::verbs
