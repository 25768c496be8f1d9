// Unpacking one image layer, a hostile tarball, into an empty directory.
//
// libarchive only READS: it undoes gzip or zstd (or nothing) and parses tar. Every file is
// written by this code with *at calls beneath the layer's directory fd, never by
// archive_write_disk (which works on paths, follows what a path meets and sets the
// process-wide umask: wrong in a threaded daemon). Each entry's parent is opened with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so no entry is ever written through a
// symlink that leads out (one made earlier by the same tarball included); the last component
// is never followed. Refused, with an error naming the entry: absolute paths, "..", a parent
// that leads outside, hardlinks to anything not already inside.
//
// Docker's whiteouts become overlayfs's: ".wh.NAME" a 0:0 character device NAME,
// ".wh..wh..opq" the xattr trusted.overlay.opaque=y on its directory. Owners, modes (setuid
// bits included), mtimes, xattrs (security.capability...) and device nodes are kept.
//
// The digests of the compressed stream (the blob's digest) and of the uncompressed one (the
// diffID) are computed while reading, over every byte, trailing padding included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace truman::daemon::images {

// Fills buf with up to size bytes and returns how many; 0 at the end. Throws on error.
using ByteSource = std::function<size_t(void* buf, size_t size)>;

struct UnpackedLayer {
    std::string compressed_digest;  // of the bytes source gave
    uint64_t compressed_size = 0;
    std::string diff_id;  // of the tar stream
    uint64_t size = 0;
    uint64_t entries = 0;
};

// Unpack everything source gives into the directory dir_fd (which should be empty). Throws
// truman::Error: invalid for a refused entry or a broken archive ("layer entry \"../x\": ..."),
// system when writing fails. On error the directory holds a part of the layer: the caller
// unpacks into a temp directory and throws it away.
UnpackedLayer unpack_layer(const ByteSource& source, int dir_fd);

// The digests of a layer blob without unpacking it (entries stays 0): the blob of a layer
// the store already has, read so that the image keeps its own compressed bytes. Throws
// truman::Error (invalid) for a stream that does not decompress.
UnpackedLayer digest_layer(const ByteSource& source);

}  // namespace truman::daemon::images
