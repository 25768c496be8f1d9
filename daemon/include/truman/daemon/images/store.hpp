// The image store: content-addressed, under <state-dir>/images, shared by every image and
// container.
//
//   blobs/sha256/<hex>        manifests, configs and compressed layers, named by digest
//   layers/<hex>/diff         a layer unpacked once, named by its diffID
//   layers/<hex>/link         the layer's short name
//   l/<short> -> ../layers/<hex>/diff
//                             short names, as Docker's overlay2 has, so that an overlay of
//                             120 (up to 500) layers fits in the one page of mount data:
//                             the container's mount runs in l/ and names its lowers relative
//   refs.json                 {"docker.io/library/alpine:latest": "sha256:<manifest>"}
//   tmp/                      work in progress, emptied when the store opens
//
// Everything becomes visible by one rename, after its content is on disk and verified: a
// crash (or SIGKILL) leaves at most something in tmp/ or a dangling short link, and the
// next open removes both.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "truman/daemon/images/layer_unpack.hpp"
#include "truman/daemon/images/reference.hpp"

namespace truman::daemon::images {

// The length of a layer's short name: 6 base-32 characters. With the ':' between names a
// lower costs 7 bytes of mount data, so overlayfs's own limit of 500 layers still fits.
constexpr size_t kShortNameLength = 6;

// A directory under the store's tmp/ for work in progress, removed with what it holds when
// it goes out of scope unless released (path cleared); a crash leaves it to the next open.
struct StoreTempDir {
    std::string path;
    explicit StoreTempDir(std::string p) : path(std::move(p)) {}
    StoreTempDir(StoreTempDir&& other) noexcept : path(std::exchange(other.path, {})) {}
    StoreTempDir(const StoreTempDir&) = delete;
    StoreTempDir& operator=(const StoreTempDir&) = delete;
    StoreTempDir& operator=(StoreTempDir&&) = delete;
    ~StoreTempDir();
};

class ImageStore {
  public:
    // Creates the directories (mode 0700 for the root) and removes what a crash left.
    explicit ImageStore(std::string root);

    const std::string& root() const { return root_; }
    // The directory the short names live in.
    std::string links_dir() const { return root_ + "/l"; }

    bool has_blob(const std::string& digest) const;
    std::string blob_path(const std::string& digest) const;
    // Store content under the digest it has (returned).
    std::string put_blob(std::string_view content);
    // Store content under `digest`; throws truman::Error (invalid) if that is not its digest.
    void put_blob(const std::string& digest, std::string_view content);
    // The file at path, under the store's tmp/, becomes the blob `digest` (one rename, after
    // an fsync) unless the store has it; the caller hashed every byte of it already (an
    // import's spool). Throws truman::Error (system).
    void adopt_blob(const std::string& digest, const std::string& path);
    // Throws truman::Error (not_found) if there is no such blob.
    std::string read_blob(const std::string& digest) const;

    bool has_layer(const std::string& diff_id) const;
    // The short name of a layer in the store; throws truman::Error (not_found) without it.
    std::string layer_link(const std::string& diff_id) const;
    std::string layer_dir(const std::string& diff_id) const;
    // The layer diff_id, unpacked from open()'s bytes unless the store has it. The bytes are
    // the compressed blob blob_digest and are kept as that blob. Published only if the
    // uncompressed stream's digest is diff_id and the compressed one blob_digest: else
    // truman::Error (invalid) and nothing is kept. Two calls for one layer at once unpack it
    // once (the second waits). Returns the layer's short name. on_verified, if given, is
    // called once both digests matched, just before the layer is made durable and published.
    std::string ensure_layer(const std::string& diff_id, const std::string& blob_digest,
                             const std::function<ByteSource()>& open,
                             const std::function<void()>& on_verified = {});

    // The compressed blob blob_digest of the layer diff_id, from open()'s bytes, unless the
    // store has it: for an image whose layer the store has already unpacked from another
    // blob (another compression, or another image's copy), so that it keeps its own bytes
    // (an export sends them). Nothing is unpacked; kept only if the bytes have digest
    // blob_digest and decompress to diff_id, else truman::Error (invalid) and nothing is kept.
    // Two calls for one blob at once download it once (the second waits). on_verified as for
    // ensure_layer.
    void ensure_blob(const std::string& diff_id, const std::string& blob_digest,
                     const std::function<ByteSource()>& open,
                     const std::function<void()>& on_verified = {});

    // A new directory tmp/<what>-XXXXXX. Throws truman::Error (system).
    StoreTempDir make_temp_dir(const std::string& what) const;

    // Image references (normalised) -> manifest digests.
    void set_ref(const ImageRef& ref, const std::string& manifest_digest);
    std::optional<std::string> find_ref(const ImageRef& ref) const;
    std::map<std::string, std::string> refs() const;
    // False if ref was not there.
    bool remove_ref(const ImageRef& ref);

  private:
    std::map<std::string, std::string> load_refs() const;
    void save_refs(const std::map<std::string, std::string>& refs) const;
    void clean_up();

    std::string root_;
    mutable std::mutex mutex_;  // refs.json, in_flight_ and blobs_in_flight_
    std::condition_variable layer_done_;
    std::set<std::string> in_flight_;        // diffIDs being unpacked
    std::set<std::string> blobs_in_flight_;  // blobs being fetched by ensure_blob
};

}  // namespace truman::daemon::images
