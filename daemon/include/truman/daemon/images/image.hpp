// What an image is made of, as the OCI image spec and Docker's schema 2 write it: an index
// (or manifest list) of per-platform manifests, a manifest naming a config and layer blobs,
// and the config (the container's defaults and the layers' diffIDs). Parsed strictly: every
// digest checked, every layer's media type known, diff_ids one per layer.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace truman::daemon::images {

namespace media {
inline constexpr const char* oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* oci_layer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* oci_layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* oci_layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr const char* docker_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr const char* docker_layer = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}  // namespace media

struct Platform {
    std::string os = "linux";
    std::string architecture = "amd64";
    std::string variant;  // "" matches any
};
// "linux/amd64", "linux/arm64/v8"; throws truman::Error (invalid, "platform").
Platform parse_platform(const std::string& text);
std::string to_string(const Platform& platform);

struct Descriptor {
    std::string media_type;
    std::string digest;
    int64_t size = 0;
    std::optional<Platform> platform;  // in an index
};

struct Manifest {
    std::string media_type;
    Descriptor config;
    std::vector<Descriptor> layers;  // bottom-most first
};

struct ImageConfig {
    std::string os, architecture, variant;
    std::string created;  // RFC 3339, as the config has it; "" when it has none
    std::vector<std::string> entrypoint, cmd, env;
    std::string working_dir, user, stop_signal;
    std::map<std::string, std::string> labels;
    std::vector<std::string> exposed_ports;  // "80/tcp"
    std::vector<std::string> diff_ids;       // bottom-most first
};

// True for the media types of an index or a manifest list.
bool is_index(const std::string& media_type);
bool is_manifest(const std::string& media_type);
// The media type a manifest document says it has (its "mediaType", or, for OCI documents
// that leave it out, what its fields make it); "" if neither.
std::string detect_media_type(const std::string& document);

// An OCI image manifest of config and layers (media type, digest, size of each), as the
// JSON text to store: the same descriptors always give the same bytes, so the same digest.
std::string make_manifest(const Descriptor& config, const std::vector<Descriptor>& layers);

// Throw truman::Error (invalid) naming what is wrong.
std::vector<Descriptor> parse_index(const std::string& document);
Manifest parse_manifest(const std::string& document);
ImageConfig parse_image_config(const std::string& document);
// The manifest in index for platform: os and architecture equal, variant too when given.
// Throws truman::Error (not_found) listing the platforms the index has.
Descriptor pick_platform(const std::vector<Descriptor>& index, const Platform& platform);

}  // namespace truman::daemon::images
