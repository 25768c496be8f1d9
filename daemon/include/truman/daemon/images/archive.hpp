// Images as tarballs: import of a `docker save` archive or an OCI image layout (a tar of
// oci-layout, index.json and blobs/sha256/...), and export of a stored image as an OCI layout.
//
// An archive is hostile input like a layer. It is read once, as a stream (libarchive; gzip,
// zstd or plain): its files go to a temp directory of the store's under flat names of their
// own, hashed as they pass, so no entry name ever becomes a path. Names with "..", absolute
// names, links that lead outside the archive, devices and the like are refused, naming the
// entry; so is an archive larger than max_bytes or a document larger than its bound. Every
// blobs/sha256/<hex> must have that digest before anything is published. Layers then go
// through ImageStore::ensure_layer, as a pull's do (both digests checked, diffID included);
// the config and manifest are kept byte for byte, so export -> import gives the same digests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "truman/daemon/images/image.hpp"
#include "truman/daemon/images/layer_unpack.hpp"
#include "truman/daemon/images/local_images.hpp"
#include "truman/daemon/images/store.hpp"

namespace truman::daemon::images {

struct ImportOptions {
    // A name for the image when the archive gives it none (or one more name when it does);
    // only for an archive of one image.
    std::string tag;
    Platform platform;                        // picked from a multi-platform index
    uint64_t max_bytes = uint64_t{64} << 30;  // the whole archive, unpacked
    uint64_t max_entries = 1'000'000;
};

struct ImportedImage {
    std::vector<std::string> refs;  // normalised, as tagged
    StoredImage image;
};

// Import every image the archive source gives (one OCI index entry or docker manifest.json
// entry each) and tag it. Throws truman::Error: invalid (a refused entry, a digest mismatch,
// a broken or nameless image: the message says which), system. On error nothing new is
// tagged; layers already published stay in the store, unreferenced (the caller's garbage
// collection removes them).
std::vector<ImportedImage> import_archive(ImageStore& store, const ByteSource& source,
                                          const ImportOptions& options);

// Takes what export_archive writes; throws to stop it.
using ByteSink = std::function<void(const void* data, size_t size)>;

// image as an OCI layout tar: oci-layout, its manifest, config and compressed layer blobs
// exactly as stored, and index.json with one entry per name in refs (annotated with
// org.opencontainers.image.ref.name, the tag, and io.containerd.image.name, the full name,
// which import reads back). Throws truman::Error (not_found when the store lacks a blob).
// Throws truman::Error (not_found) unless the store has every blob export_archive sends.
void check_exportable(const ImageStore& store, const StoredImage& image);
void export_archive(const ImageStore& store, const StoredImage& image,
                    const std::vector<std::string>& refs, const ByteSink& sink);

}  // namespace truman::daemon::images
