#include "truman/daemon/images/layer_unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <exception>
#include <string_view>
#include <utility>
#include <vector>

#include "truman/daemon/images/digest.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman::daemon::images {

namespace {

constexpr size_t kBufferSize = size_t{256} * 1024;
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
// Overlayfs reads its own metadata from these; a layer that brought them could redirect a
// lookup or forge a whiteout that the tarball does not show. Only the opaque marker above
// makes one, on purpose.
constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";

Error entry_invalid(const std::string& entry, const std::string& why) {
    return make_error(ErrorKind::invalid, "layer entry \"" + entry + "\": " + why);
}

Error entry_failed(const std::string& entry, const std::string& what, int err) {
    // The kernel refusing a path because of what the tarball put there is the tarball's fault.
    ErrorKind kind = (err == EXDEV || err == ELOOP || err == ENOTDIR || err == ENAMETOOLONG)
                         ? ErrorKind::invalid
                         : ErrorKind::system;
    std::string why = what;
    if (err == EXDEV) why += ": leads outside the layer (through a symlink)";
    return make_error(kind, "layer entry \"" + entry + "\": " + why, err);
}

// openat2 beneath dir: never out of it, never through /proc's magic links.
int open_beneath(int dir, const std::string& path, int flags) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (;;) {
        long fd = ::syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how);
        if (fd >= 0 || errno != EAGAIN) return static_cast<int>(fd);
    }
}

struct EntryPath {
    std::vector<std::string> parent;  // components of the parent directory
    std::string base;                 // "" for the layer's root itself
};

// "a/./b//c" -> {a, b}, "c"; refuses what could leave the layer by name alone.
EntryPath split_entry_path(const std::string& name) {
    if (name.empty()) throw entry_invalid(name, "empty name");
    if (name[0] == '/') throw entry_invalid(name, "absolute path refused");
    std::vector<std::string> parts;
    for (size_t begin = 0; begin <= name.size();) {
        size_t end = name.find('/', begin);
        if (end == std::string::npos) end = name.size();
        std::string part = name.substr(begin, end - begin);
        if (part == "..") throw entry_invalid(name, "\"..\" refused");
        if (!part.empty() && part != ".") parts.push_back(std::move(part));
        begin = end + 1;
    }
    EntryPath path;
    if (parts.empty()) return path;
    path.base = std::move(parts.back());
    parts.pop_back();
    path.parent = std::move(parts);
    return path;
}

std::string join(const std::vector<std::string>& parts, size_t count) {
    std::string out;
    for (size_t i = 0; i < count; ++i) {
        if (i) out += '/';
        out += parts[i];
    }
    return out;
}

timespec entry_mtime(archive_entry* e) {
    timespec t{};
    if (archive_entry_mtime_is_set(e)) {
        t.tv_sec = archive_entry_mtime(e);
        t.tv_nsec = archive_entry_mtime_nsec(e);
    }
    return t;
}

// Remove dir_fd/name and everything under it, never following a symlink.
void remove_tree(int dir_fd, const std::string& name, const std::string& entry) {
    struct stat st {};
    if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) return;
        throw entry_failed(entry, "stat " + name, errno);
    }
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) throw entry_failed(entry, "open " + name, errno);
        DIR* d = fdopendir(fd);
        if (!d) {
            int err = errno;
            ::close(fd);
            throw entry_failed(entry, "read " + name, err);
        }
        std::vector<std::string> children;
        // readdir is only unsafe on a DIR* that threads share; this one is ours alone.
        while (dirent* de = readdir(d)) {  // NOLINT(concurrency-mt-unsafe)
            std::string_view n = de->d_name;
            if (n != "." && n != "..") children.emplace_back(n);
        }
        try {
            for (const auto& child : children) remove_tree(dirfd(d), child, entry);
        } catch (...) {
            closedir(d);
            throw;
        }
        closedir(d);
        if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) < 0)
            throw entry_failed(entry, "remove " + name, errno);
        return;
    }
    if (unlinkat(dir_fd, name.c_str(), 0) < 0) throw entry_failed(entry, "remove " + name, errno);
}

// The two libarchive readers in a row, each feeding a digest: `outer` undoes the
// compression (format "raw"), `inner` parses the tar stream outer produces.
struct Pipeline {
    const ByteSource* source = nullptr;
    Sha256 compressed, uncompressed;
    std::vector<char> in_buffer = std::vector<char>(kBufferSize);
    std::vector<char> mid_buffer = std::vector<char>(kBufferSize);
    std::exception_ptr source_error;
    archive* outer = nullptr;
    archive* inner = nullptr;

    ~Pipeline() {
        if (inner) archive_read_free(inner);
        if (outer) archive_read_free(outer);
    }

    size_t read_source(void* buf, size_t size) {
        size_t n = (*source)(buf, size);
        compressed.update(buf, n);
        return n;
    }

    static la_ssize_t read_compressed(archive* a, void* self, const void** buf) {
        auto* p = static_cast<Pipeline*>(self);
        try {
            *buf = p->in_buffer.data();
            return static_cast<la_ssize_t>(p->read_source(p->in_buffer.data(), kBufferSize));
        } catch (...) {
            p->source_error = std::current_exception();
            archive_set_error(a, EIO, "reading the layer failed");
            return -1;
        }
    }

    la_ssize_t read_tar_bytes(void* buf, size_t size) {
        la_ssize_t n = archive_read_data(outer, buf, size);
        if (n > 0) uncompressed.update(buf, static_cast<size_t>(n));
        return n;
    }

    static la_ssize_t read_uncompressed(archive* a, void* self, const void** buf) {
        auto* p = static_cast<Pipeline*>(self);
        *buf = p->mid_buffer.data();
        la_ssize_t n = p->read_tar_bytes(p->mid_buffer.data(), kBufferSize);
        if (n < 0) archive_set_error(a, EIO, "%s", archive_error_string(p->outer));
        return n;
    }

    // Why libarchive gave up: the source's own error first, then the archive's.
    [[noreturn]] void fail(archive* a, const std::string& what) {
        if (source_error) std::rethrow_exception(source_error);
        const char* why = archive_error_string(a);
        throw make_error(ErrorKind::invalid, "layer: " + what + ": " + (why ? why : "broken"));
    }
};

class Unpacker {
  public:
    Unpacker(archive* tar, int root) : tar_(tar), root_(root) {}

    void entry(archive_entry* e) {
        const char* raw = archive_entry_pathname(e);
        name_ = raw ? raw : "";
        EntryPath path = split_entry_path(name_);
        if (path.base.empty()) return;  // the layer's root: the store owns its metadata
        if (path.base.rfind(kWhiteoutPrefix, 0) == 0) {
            whiteout(path);
            return;
        }
        Fd parent = open_dir(path.parent, path.parent.size());
        if (const char* target = archive_entry_hardlink(e)) {
            hardlink(parent.get(), path.base, target);
            return;
        }
        switch (archive_entry_filetype(e)) {
            case AE_IFDIR:
                directory(parent.get(), path, e);
                break;
            case AE_IFREG:
                regular_file(parent.get(), path.base, e);
                break;
            case AE_IFLNK:
                symlink(parent.get(), path.base, e);
                break;
            case AE_IFCHR:
            case AE_IFBLK:
            case AE_IFIFO:
                node(parent.get(), path.base, e);
                break;
            default:
                throw entry_invalid(name_, "unsupported file type (sockets are not archived)");
        }
    }

    // Directory mtimes last: every entry written inside one changed it.
    void finish() {
        for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
            Fd dir(open_beneath(root_, it->first, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
            if (!dir) throw entry_failed(it->first, "reopen directory", errno);
            timespec times[2] = {it->second, it->second};
            if (futimens(dir.get(), times) < 0) throw entry_failed(it->first, "set mtime", errno);
        }
    }

  private:
    // The directory made of the first `count` components, beneath the root, made (0755, as
    // Docker does for directories a tarball implies) if missing.
    Fd open_dir(const std::vector<std::string>& parts, size_t count) {
        if (count == 0) {
            Fd dup(fcntl(root_, F_DUPFD_CLOEXEC, 0));
            if (!dup) throw system_error("dup layer directory");
            return dup;
        }
        std::string rel = join(parts, count);
        Fd fd(open_beneath(root_, rel, O_RDONLY | O_DIRECTORY));
        if (fd) return fd;
        if (errno != ENOENT) throw entry_failed(name_, "open parent " + rel, errno);
        Fd up = open_dir(parts, count - 1);
        if (mkdirat(up.get(), parts[count - 1].c_str(), 0755) < 0 && errno != EEXIST)
            throw entry_failed(name_, "create parent " + rel, errno);
        fd.reset(open_beneath(root_, rel, O_RDONLY | O_DIRECTORY));
        if (!fd) throw entry_failed(name_, "open parent " + rel, errno);
        return fd;
    }

    // What a new entry replaces goes first (tar semantics); a directory stays for a directory.
    void make_room(int parent, const std::string& base, bool for_directory) {
        struct stat st {};
        if (fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) return;
            throw entry_failed(name_, "stat", errno);
        }
        if (for_directory && S_ISDIR(st.st_mode)) return;
        remove_tree(parent, base, name_);
    }

    void set_xattrs(int fd, archive_entry* e) {
        archive_entry_xattr_reset(e);
        const char* key = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
            std::string_view k = key;
            if (k.rfind(kOverlayXattrPrefix, 0) == 0) continue;
            if (fsetxattr(fd, key, value, size, 0) < 0) {
                if (errno == ENOTSUP) {
                    spdlog::warn("layer entry \"{}\": xattr {} not supported here", name_, k);
                    continue;
                }
                throw entry_failed(name_, "set xattr " + std::string(k), errno);
            }
        }
    }

    // Owner before mode: chown clears the setuid and setgid bits.
    void set_attributes(int fd, archive_entry* e) {
        if (fchown(fd, static_cast<uid_t>(archive_entry_uid(e)),
                   static_cast<gid_t>(archive_entry_gid(e))) < 0)
            throw entry_failed(name_, "chown", errno);
        if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
            throw entry_failed(name_, "chmod", errno);
        set_xattrs(fd, e);
    }

    void set_link_attributes(int parent, const std::string& base, archive_entry* e) {
        if (fchownat(parent, base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                     static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) < 0)
            throw entry_failed(name_, "chown", errno);
        timespec times[2] = {entry_mtime(e), entry_mtime(e)};
        if (utimensat(parent, base.c_str(), times, AT_SYMLINK_NOFOLLOW) < 0)
            throw entry_failed(name_, "set mtime", errno);
    }

    void directory(int parent, const EntryPath& path, archive_entry* e) {
        make_room(parent, path.base, true);
        if (mkdirat(parent, path.base.c_str(), 0700) < 0 && errno != EEXIST)
            throw entry_failed(name_, "mkdir", errno);
        Fd dir(openat(parent, path.base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir) throw entry_failed(name_, "open directory", errno);
        set_attributes(dir.get(), e);
        std::vector<std::string> parts = path.parent;
        parts.push_back(path.base);
        dir_times_.emplace_back(join(parts, parts.size()), entry_mtime(e));
    }

    void regular_file(int parent, const std::string& base, archive_entry* e) {
        make_room(parent, base, false);
        Fd file(openat(parent, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0600));
        if (!file) throw entry_failed(name_, "create", errno);
        for (;;) {
            const void* block = nullptr;
            size_t size = 0;
            la_int64_t offset = 0;
            int r = archive_read_data_block(tar_, &block, &size, &offset);
            if (r == ARCHIVE_EOF) break;
            if (r < ARCHIVE_WARN)
                throw entry_invalid(
                    name_, std::string("read data: ") + (archive_error_string(tar_) ?: "broken"));
            const char* p = static_cast<const char*>(block);
            while (size > 0) {
                ssize_t n = pwrite(file.get(), p, size, offset);
                if (n < 0) {
                    if (errno == EINTR) continue;
                    throw entry_failed(name_, "write", errno);
                }
                p += n;
                size -= static_cast<size_t>(n);
                offset += n;
            }
        }
        // A sparse file may end in a hole that no block covered.
        if (ftruncate(file.get(), archive_entry_size(e)) < 0)
            throw entry_failed(name_, "truncate", errno);
        set_attributes(file.get(), e);
        timespec times[2] = {entry_mtime(e), entry_mtime(e)};
        if (futimens(file.get(), times) < 0) throw entry_failed(name_, "set mtime", errno);
    }

    void symlink(int parent, const std::string& base, archive_entry* e) {
        const char* target = archive_entry_symlink(e);
        if (!target || !*target) throw entry_invalid(name_, "symlink without a target");
        make_room(parent, base, false);
        // Any target is fine as a link: it is resolved later inside the container's root,
        // and unpacking never writes through one.
        if (symlinkat(target, parent, base.c_str()) < 0)
            throw entry_failed(name_, "symlink", errno);
        set_link_attributes(parent, base, e);
    }

    void node(int parent, const std::string& base, archive_entry* e) {
        make_room(parent, base, false);
        mode_t type = archive_entry_filetype(e) == AE_IFCHR   ? S_IFCHR
                      : archive_entry_filetype(e) == AE_IFBLK ? S_IFBLK
                                                              : S_IFIFO;
        dev_t dev = type == S_IFIFO ? 0 : archive_entry_rdev(e);
        if (mknodat(parent, base.c_str(), type | 0600, dev) < 0)
            throw entry_failed(name_, "mknod", errno);
        set_link_attributes(parent, base, e);
        // The node was made by us a moment ago in a directory only we write.
        if (fchmodat(parent, base.c_str(), archive_entry_perm(e) & 07777, 0) < 0)
            throw entry_failed(name_, "chmod", errno);
    }

    void hardlink(int parent, const std::string& base, const std::string& target) {
        EntryPath to;
        try {
            to = split_entry_path(target);
        } catch (const Error& e) {
            throw entry_invalid(name_, std::string("hardlink target: ") + e.what());
        }
        if (to.base.empty()) throw entry_invalid(name_, "hardlink to the layer's root refused");
        std::string rel = join(to.parent, to.parent.size());
        auto not_inside = [&](int err) {
            return entry_invalid(name_, "hardlink target \"" + target + "\" is not in the layer (" +
                                            errno_text(err) + ")");
        };
        Fd target_dir(rel.empty() ? fcntl(root_, F_DUPFD_CLOEXEC, 0)
                                  : open_beneath(root_, rel, O_RDONLY | O_DIRECTORY));
        if (!target_dir) throw not_inside(errno);
        struct stat st {};
        if (fstatat(target_dir.get(), to.base.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
            throw not_inside(errno);
        if (S_ISDIR(st.st_mode)) throw entry_invalid(name_, "hardlink to a directory refused");
        make_room(parent, base, false);
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink, inside.
        if (linkat(target_dir.get(), to.base.c_str(), parent, base.c_str(), 0) < 0)
            throw entry_failed(name_, "hardlink to \"" + target + "\"", errno);
    }

    void whiteout(const EntryPath& path) {
        Fd parent = open_dir(path.parent, path.parent.size());
        if (path.base == kOpaqueMarker) {
            if (fsetxattr(parent.get(), "trusted.overlay.opaque", "y", 1, 0) < 0)
                throw entry_failed(name_, "set trusted.overlay.opaque", errno);
            return;
        }
        if (path.base.rfind(kWhiteoutMetaPrefix, 0) == 0) return;  // aufs's own bookkeeping
        std::string hidden = path.base.substr(kWhiteoutPrefix.size());
        if (hidden.empty() || hidden == "." || hidden == "..")
            throw entry_invalid(name_, "whiteout of nothing");
        make_room(parent.get(), hidden, false);
        // Overlayfs's whiteout: a character device 0:0 hides the name in the layers below.
        if (mknodat(parent.get(), hidden.c_str(), S_IFCHR, makedev(0, 0)) < 0)
            throw entry_failed(name_, "make whiteout", errno);
    }

    archive* tar_;
    int root_;
    std::string name_;
    std::vector<std::pair<std::string, timespec>> dir_times_;
};

// Opens p's outer reader over source: gzip, zstd or nothing, as image layers have.
void open_decompressor(Pipeline& p, const ByteSource& source) {
    p.source = &source;
    p.outer = archive_read_new();
    if (!p.outer) throw make_error(ErrorKind::system, "libarchive: out of memory");
    // Only what image layers use: gzip, zstd, or nothing (libarchive passes plain data on).
    archive_read_support_filter_gzip(p.outer);
    archive_read_support_filter_zstd(p.outer);
    archive_read_support_format_raw(p.outer);
    if (archive_read_open(p.outer, &p, nullptr, Pipeline::read_compressed, nullptr) != ARCHIVE_OK)
        p.fail(p.outer, "open");
    archive_entry* raw = nullptr;
    if (archive_read_next_header(p.outer, &raw) != ARCHIVE_OK) p.fail(p.outer, "decompress");
}

// Reads what is left of both streams, so that the digests cover every byte, also what
// follows the tar's end marker, and fills in result's digests and sizes.
void finish_digests(Pipeline& p, UnpackedLayer& result) {
    std::vector<char> rest(kBufferSize);
    for (;;) {
        la_ssize_t n = p.read_tar_bytes(rest.data(), rest.size());
        if (n < 0) p.fail(p.outer, "decompress");
        if (n == 0) break;
    }
    while (p.read_source(rest.data(), rest.size()) > 0) {
    }
    result.compressed_size = p.compressed.size();
    result.compressed_digest = p.compressed.digest();
    result.size = p.uncompressed.size();
    result.diff_id = p.uncompressed.digest();
}

}  // namespace

UnpackedLayer digest_layer(const ByteSource& source) {
    Pipeline p;
    open_decompressor(p, source);
    UnpackedLayer result;
    finish_digests(p, result);
    return result;
}

UnpackedLayer unpack_layer(const ByteSource& source, int dir_fd) {
    Pipeline p;
    open_decompressor(p, source);
    p.inner = archive_read_new();
    if (!p.inner) throw make_error(ErrorKind::system, "libarchive: out of memory");
    archive_read_support_format_tar(p.inner);
    if (archive_read_open(p.inner, &p, nullptr, Pipeline::read_uncompressed, nullptr) != ARCHIVE_OK)
        p.fail(p.inner, "read tar");

    UnpackedLayer result;
    Unpacker unpacker(p.inner, dir_fd);
    for (;;) {
        archive_entry* e = nullptr;
        int r = archive_read_next_header(p.inner, &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) p.fail(p.inner, "read tar");
        try {
            unpacker.entry(e);
        } catch (const Error&) {
            // An entry's data cut short because the source failed (the registry went away):
            // the source's error is the cause, not the "truncated input" it left behind.
            if (p.source_error) std::rethrow_exception(p.source_error);
            throw;
        }
        ++result.entries;
    }
    unpacker.finish();
    finish_digests(p, result);
    return result;
}

}  // namespace truman::daemon::images
