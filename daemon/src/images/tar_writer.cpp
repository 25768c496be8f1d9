#include "truman/daemon/images/tar_writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>

#include "truman/daemon/atomic_file.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;

namespace truman::daemon::images {

struct TarWriter::State {
    archive* a = nullptr;
    std::string out;
    bool finished = false;

    ~State() {
        if (a) archive_write_free(a);
    }

    static la_ssize_t write(archive*, void* self, const void* buf, size_t size) {
        static_cast<State*>(self)->out.append(static_cast<const char*>(buf), size);
        return static_cast<la_ssize_t>(size);
    }

    void check(int r, const std::string& what) const {
        if (r < ARCHIVE_WARN)
            throw make_error(ErrorKind::system,
                             "tar " + what + ": " + (archive_error_string(a) ?: "failed"));
    }

    void add(const std::string& name, mode_t type, const TarEntryOptions& o,
             const std::string& data = {}, const char* symlink = nullptr,
             const char* hardlink = nullptr, dev_t rdev = 0) {
        if (finished) throw make_error(ErrorKind::invalid, "tar: already finished");
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, name.c_str());
        if (hardlink) {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            archive_entry_set_hardlink(e, hardlink);
        } else {
            archive_entry_set_filetype(e, type);
            archive_entry_set_perm(e, o.mode & 07777);
            archive_entry_set_uid(e, o.uid);
            archive_entry_set_gid(e, o.gid);
            archive_entry_set_mtime(e, o.mtime, 0);
            if (symlink) archive_entry_set_symlink(e, symlink);
            if (type == AE_IFCHR || type == AE_IFBLK) archive_entry_set_rdev(e, rdev);
            if (type == AE_IFREG) archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
            for (const auto& [key, value] : o.xattrs)
                archive_entry_xattr_add_entry(e, key.c_str(), value.data(), value.size());
        }
        int r = archive_write_header(a, e);
        archive_entry_free(e);
        check(r, "header " + name);
        if (!data.empty() && archive_write_data(a, data.data(), data.size()) < 0)
            check(ARCHIVE_FATAL, "data " + name);
    }
};

TarWriter::TarWriter(Compression compression) : state_(std::make_unique<State>()) {
    state_->a = archive_write_new();
    if (!state_->a) throw make_error(ErrorKind::system, "libarchive: out of memory");
    // pax: long names, xattrs (SCHILY.xattr), large ids, as Docker's and umoci's layers.
    state_->check(archive_write_set_format_pax_restricted(state_->a), "format");
    if (compression == Compression::gzip)
        state_->check(archive_write_add_filter_gzip(state_->a), "gzip");
    if (compression == Compression::zstd)
        state_->check(archive_write_add_filter_zstd(state_->a), "zstd");
    state_->check(archive_write_set_bytes_in_last_block(state_->a, 1), "blocking");
    state_->check(archive_write_open(state_->a, state_.get(), nullptr, State::write, nullptr),
                  "open");
}

TarWriter::~TarWriter() = default;

void TarWriter::file(const std::string& name, const std::string& content,
                     const TarEntryOptions& o) {
    state_->add(name, AE_IFREG, o, content);
}

void TarWriter::directory(const std::string& name, const TarEntryOptions& o) {
    state_->add(name, AE_IFDIR, o);
}

void TarWriter::symlink(const std::string& name, const std::string& target,
                        const TarEntryOptions& o) {
    TarEntryOptions link = o;
    link.mode = 0777;
    state_->add(name, AE_IFLNK, link, {}, target.c_str());
}

void TarWriter::hardlink(const std::string& name, const std::string& target) {
    state_->add(name, AE_IFREG, {}, {}, nullptr, target.c_str());
}

void TarWriter::node(const std::string& name, char type, unsigned major, unsigned minor,
                     const TarEntryOptions& o) {
    mode_t t = type == 'c' ? AE_IFCHR : type == 'b' ? AE_IFBLK : AE_IFIFO;
    state_->add(name, t, o, {}, nullptr, nullptr, makedev(major, minor));
}

void TarWriter::tree(const std::string& dir) {
    std::vector<fs::path> paths;
    try {
        for (const auto& entry : fs::recursive_directory_iterator(dir))
            paths.push_back(entry.path());
    } catch (const fs::filesystem_error& e) {
        throw make_error(ErrorKind::system, "tar " + dir + ": " + e.what(), e.code().value());
    }
    // Sorted, so that the same tree gives the same tarball (and digest).
    std::sort(paths.begin(), paths.end());
    for (const auto& path : paths) {
        struct stat st {};
        if (lstat(path.c_str(), &st) < 0) throw system_error("stat " + path.string());
        std::string name = path.lexically_relative(dir).string();
        TarEntryOptions o{.mode = st.st_mode & 07777,
                          .uid = st.st_uid,
                          .gid = st.st_gid,
                          .mtime = st.st_mtim.tv_sec};
        if (S_ISDIR(st.st_mode))
            directory(name, o);
        else if (S_ISLNK(st.st_mode))
            symlink(name, fs::read_symlink(path).string(), o);
        else if (S_ISREG(st.st_mode))
            file(name, read_whole_file(path.string()), o);
    }
}

std::string TarWriter::finish() {
    if (!state_->finished) {
        state_->check(archive_write_close(state_->a), "close");
        state_->finished = true;
    }
    return state_->out;
}

}  // namespace truman::daemon::images
