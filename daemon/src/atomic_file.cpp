#include "truman/daemon/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman::daemon {

void write_all(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw system_error("write " + path);
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
}

namespace {

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace

void write_file_replace(const std::string& path, std::string_view content, int mode) {
    const std::string dir = dir_of(path);
    const std::string base =
        path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    std::string temp = dir + "/." + base + ".tmp.XXXXXX";
    Fd fd(mkostemp(temp.data(), O_CLOEXEC));
    if (!fd) throw system_error("create temp file for " + path);
    try {
        if (fchmod(fd.get(), static_cast<mode_t>(mode)) < 0) throw system_error("fchmod " + temp);
        write_all(fd.get(), content, temp);
        fd.reset();
        if (rename(temp.c_str(), path.c_str()) < 0)
            throw system_error("rename " + temp + " to " + path);
    } catch (...) {
        unlink(temp.c_str());
        throw;
    }
}

void sync_file_and_dir(const std::string& path) {
    Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd && fsync(fd.get()) < 0) throw system_error("fsync " + path);
    if (!fd && errno != ENOENT) throw system_error("open " + path);
    const std::string dir = dir_of(path);
    Fd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd && errno == ENOENT) return;  // removed with its directory: nothing to keep
    if (!dir_fd) throw system_error("open " + dir);
    if (fsync(dir_fd.get()) < 0) throw system_error("fsync " + dir);
}

void write_file_atomic(const std::string& path, std::string_view content, int mode) {
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    // Same directory, hence same filesystem: rename() is then atomic.
    std::string temp = dir + "/." + base + ".tmp.XXXXXX";
    Fd fd(mkostemp(temp.data(), O_CLOEXEC));
    if (!fd) throw system_error("create temp file for " + path);
    try {
        if (fchmod(fd.get(), static_cast<mode_t>(mode)) < 0) throw system_error("fchmod " + temp);
        write_all(fd.get(), content, temp);
        // Data must be on disk before the rename makes it visible, or a crash could leave
        // path pointing at an empty file (the classic ext4 delayed-allocation surprise).
        if (fsync(fd.get()) < 0) throw system_error("fsync " + temp);
        fd.reset();
        if (rename(temp.c_str(), path.c_str()) < 0)
            throw system_error("rename " + temp + " to " + path);
    } catch (...) {
        unlink(temp.c_str());
        throw;
    }
    Fd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) throw system_error("open " + dir);
    if (fsync(dir_fd.get()) < 0) throw system_error("fsync " + dir);
}

bool is_atomic_temp_name(std::string_view filename) {
    // ".<base>.tmp.XXXXXX"
    if (filename.size() < 12 || filename[0] != '.') return false;
    auto pos = filename.rfind(".tmp.");
    return pos != std::string_view::npos && pos > 0 && filename.size() - pos == 11;
}

std::string read_whole_file(const std::string& path) {
    Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        int err = errno;
        throw make_error(err == ENOENT ? ErrorKind::not_found : ErrorKind::system, "open " + path,
                         err);
    }
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw system_error("read " + path);
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

}  // namespace truman::daemon
