#include "truman/daemon/rotated_log_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace truman::daemon {

RotatedLogReader::RotatedLogReader(std::string path) : path_(std::move(path)) {}

void RotatedLogReader::drain(const std::function<void(std::string_view)>& on_line) {
    if (!fd_) return;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd_.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pending_.append(buf, static_cast<size_t>(n));
    }
    size_t start = 0;
    for (;;) {
        auto nl = pending_.find('\n', start);
        if (nl == std::string::npos) break;
        on_line(std::string_view(pending_).substr(start, nl - start));
        start = nl + 1;
    }
    pending_.erase(0, start);
}

bool RotatedLogReader::open_current() {
    Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return false;
    struct stat st {};
    fstat(fd.get(), &st);
    fd_ = std::move(fd);
    inode_ = st.st_ino;
    // A torn record at the end of the previous file will never be completed.
    pending_.clear();
    return true;
}

void RotatedLogReader::read_available(const std::function<void(std::string_view)>& on_line) {
    if (!started_) {
        started_ = true;
        fd_ = Fd(::open((path_ + ".1").c_str(), O_RDONLY | O_CLOEXEC));
        if (fd_) {
            drain(on_line);
            fd_.reset();
            pending_.clear();
        }
        if (!open_current()) return;
    }
    if (!fd_ && !open_current()) return;
    drain(on_line);
    struct stat st {};
    if (stat(path_.c_str(), &st) == 0 && st.st_ino != inode_) {
        // Rotated: the writer renamed our file before creating the new one, so what we read
        // now is the rest of it, and then the new file from its start.
        drain(on_line);
        if (open_current()) drain(on_line);
    }
}

}  // namespace truman::daemon
