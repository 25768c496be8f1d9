// Images as the store holds them: a reference resolved to its manifest, config and layers'
// short names, and the built-in busybox image, made locally as an ordinary store image.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "truman/daemon/images/image.hpp"
#include "truman/daemon/images/store.hpp"

namespace truman::daemon::images {

struct StoredImage {
    std::string manifest_digest;
    std::string id;  // the config's digest, as Docker names an image
    Manifest manifest;
    ImageConfig config;
    std::vector<std::string> layer_links;  // short names in store.links_dir(), bottom-most first
    uint64_t size = 0;                     // the layers' compressed bytes
};

// The image with this manifest; throws truman::Error (not_found when a part is missing,
// invalid when it does not parse or the config's diff_ids do not match the layers).
StoredImage load_image(const ImageStore& store, const std::string& manifest_digest);
// The image ref names ("busybox", "127.0.0.1:5000/app:1", "app@sha256:..."), nullopt if the
// store has none. Throws truman::Error (invalid) for what is not a reference.
std::optional<StoredImage> find_image(const ImageStore& store, const std::string& ref);

// The reference the built-in image is stored under ("busybox" normalised).
std::string busybox_reference();
// Unless the store has busybox: one layer made from busybox_path (must be static; see
// make_busybox_rootfs), a config with Cmd ["/bin/sh"] and Docker's PATH, an OCI manifest,
// tagged docker.io/library/busybox:latest. No network. Throws truman::Error.
void ensure_busybox_image(ImageStore& store, const std::string& busybox_path);

}  // namespace truman::daemon::images
