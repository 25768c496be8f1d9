#include "truman/daemon/images/local_images.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "truman/daemon/images/digest.hpp"
#include "truman/daemon/images/reference.hpp"
#include "truman/daemon/images/tar_writer.hpp"
#include "truman/error.hpp"
#include "truman/rootfs.hpp"

using json = nlohmann::json;

namespace truman::daemon::images {

namespace {

// The temp directory the busybox rootfs is made in before it becomes a layer.
}  // namespace

StoredImage load_image(const ImageStore& store, const std::string& manifest_digest) {
    StoredImage image;
    image.manifest_digest = manifest_digest;
    image.manifest = parse_manifest(store.read_blob(manifest_digest));
    image.id = image.manifest.config.digest;
    image.config = parse_image_config(store.read_blob(image.id));
    if (image.config.diff_ids.size() != image.manifest.layers.size())
        throw make_error(ErrorKind::invalid,
                         "image " + manifest_digest + ": the config has " +
                             std::to_string(image.config.diff_ids.size()) + " diff_ids for " +
                             std::to_string(image.manifest.layers.size()) + " layers");
    for (size_t i = 0; i < image.config.diff_ids.size(); ++i) {
        image.layer_links.push_back(store.layer_link(image.config.diff_ids[i]));
        image.size += static_cast<uint64_t>(image.manifest.layers[i].size);
    }
    return image;
}

std::optional<StoredImage> find_image(const ImageStore& store, const std::string& ref) {
    ImageRef parsed = parse_reference(ref, "image");
    std::optional<std::string> manifest = store.find_ref(parsed);
    if (!manifest && !parsed.digest.empty() && store.has_blob(parsed.digest))
        manifest = parsed.digest;
    if (!manifest) return std::nullopt;
    return load_image(store, *manifest);
}

std::string busybox_reference() {
    return parse_reference("busybox").str();
}

void ensure_busybox_image(ImageStore& store, const std::string& busybox_path) {
    ImageRef ref = parse_reference("busybox");
    if (auto manifest = store.find_ref(ref)) {
        try {
            load_image(store, *manifest);
            return;
        } catch (const Error& e) {
            spdlog::error("image busybox is broken ({}); making it again", e.what());
        }
    }
    if (access(busybox_path.c_str(), X_OK) != 0)
        throw make_error(ErrorKind::not_found, "busybox for the default image: " + busybox_path,
                         errno);
    StoreTempDir scratch = store.make_temp_dir("busybox");
    make_busybox_rootfs(scratch.path + "/rootfs", busybox_path);
    TarWriter tar;
    tar.tree(scratch.path + "/rootfs");
    auto layer = std::make_shared<std::string>(tar.finish());
    std::string diff_id = sha256_digest(*layer);
    store.ensure_layer(diff_id, diff_id, [layer] {
        auto offset = std::make_shared<size_t>(0);
        return ByteSource([layer, offset](void* buf, size_t size) {
            size_t n = std::min(size, layer->size() - *offset);
            std::memcpy(buf, layer->data() + *offset, n);
            *offset += n;
            return n;
        });
    });
    json config = {
        {"architecture", "amd64"},
        {"os", "linux"},
        {"config",
         {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
          {"Cmd", {"/bin/sh"}}}},
        {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}},
        {"history", {{{"created_by", "trumand: static busybox from " + busybox_path}}}},
    };
    std::string config_text = config.dump();
    std::string config_digest = store.put_blob(config_text);
    std::string manifest_digest = store.put_blob(make_manifest(
        {media::oci_config, config_digest, static_cast<int64_t>(config_text.size()), {}},
        {{media::oci_layer, diff_id, static_cast<int64_t>(layer->size()), {}}}));
    store.set_ref(ref, manifest_digest);
    spdlog::info("built image {} ({}) from {}", ref.str(), manifest_digest, busybox_path);
}

}  // namespace truman::daemon::images
