// Pulling an image from an OCI distribution registry (libcurl): the manifest (an OCI index
// or manifest, a Docker schema 2 manifest or manifest list; the platform picked from an
// index), the config, then the layers, in parallel, each unpacked while it downloads.
// Every byte is checked against its digest as it streams; the store keeps a layer only once
// both of its digests matched, and the manifest, config and tag only once every layer is in.
//
// Auth: anonymous, HTTP basic, and the bearer-token flow (WWW-Authenticate: Bearer
// realm=...), with credentials from a docker-style auth file. HTTPS with the system CAs and
// a per-registry CA from a certs.d directory; plain HTTP only for localhost, 127.0.0.0/8
// and the registries named insecure.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "truman/daemon/images/image.hpp"
#include "truman/daemon/images/local_images.hpp"
#include "truman/daemon/images/store.hpp"

namespace truman::daemon::images {

struct PullOptions {
    Platform platform;                             // linux/amd64 unless told
    std::vector<std::string> insecure_registries;  // "host:port" spoken to over plain HTTP
    std::string auth_file;  // docker-style {"auths": {"host": {"auth": base64(user:pass)}}}
    // Like Docker's /etc/docker/certs.d: <certs_dir>/<host:port>/ca.crt is trusted for that
    // registry besides the system's CAs; client.cert and client.key, if there, are sent.
    std::string certs_dir;
    unsigned parallel_layers = 3;
};

struct PullProgress {
    std::string layer;   // the layer's (compressed) digest
    std::string status;  // "waiting", "downloading", "exists", "unpacked"
    uint64_t done = 0;   // bytes downloaded so far
    uint64_t total = 0;  // the manifest's size for the layer
};

// Called from the pulling threads, never two at once.
using PullProgressFn = std::function<void(const PullProgress&)>;

// True when the registry (a reference's domain) is spoken to over plain HTTP.
bool is_plain_http_registry(const std::string& domain, const std::vector<std::string>& insecure);

// Log in: GET /v2/ of registry ("host:port" as references name it) with these credentials,
// by basic auth or the bearer flow as the registry asks, trusted as a pull's would be (TLS,
// certs.d, plain HTTP rules). Throws truman::Error: invalid (EACCES when refused), system
// (network, TLS).
void check_login(const std::string& registry, const std::string& username,
                 const std::string& password, const PullOptions& options);
// The docker-style auth file's entry for registry set / removed (other entries kept), the
// file replaced atomically, mode 0600; not fsync'd (the caller syncs it later). remove is
// false when there was none. Throws truman::Error (invalid for a broken file, system).
void store_credentials(const std::string& auth_file, const std::string& registry,
                       const std::string& username, const std::string& password);
bool remove_credentials(const std::string& auth_file, const std::string& registry);

// Pull ref into store and tag it. Throws truman::Error: not_found (no such image or tag,
// no manifest for the platform), invalid (a digest mismatch, a broken manifest or layer),
// unsupported (media types), system (network, TLS: the message says which).
StoredImage pull_image(ImageStore& store, const std::string& ref, const PullOptions& options,
                       const PullProgressFn& progress = {});

}  // namespace truman::daemon::images
