#include "listen_socket.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman::trumand {

namespace {

constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        throw invalid_argument("socket", "path must be 1-" +
                                             std::to_string(sizeof addr.sun_path - 1) +
                                             " characters: \"" + path + "\"");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

// A socket file with a live listener answers connect(); a stale one (its daemon died) refuses.
void remove_stale_socket(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        throw system_error("stat " + path);
    }
    if (!S_ISSOCK(st.st_mode))
        throw make_error(ErrorKind::conflict, path + " exists and is not a socket");
    Fd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe) throw system_error("socket");
    sockaddr_un addr = unix_address(path);
    if (connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
        throw make_error(ErrorKind::conflict, "another daemon is listening on " + path);
    if (errno != ECONNREFUSED)
        throw make_error(ErrorKind::conflict, "cannot tell whether " + path + " is in use", errno);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) throw system_error("unlink " + path);
}

}  // namespace

// Called once at start-up, before trumand starts any thread: the environment is still ours
// alone (hence the NOLINTs for getenv/unsetenv).
std::optional<int> activated_socket() {
    const char* pid = std::getenv("LISTEN_PID");  // NOLINT(concurrency-mt-unsafe)
    const char* fds = std::getenv("LISTEN_FDS");  // NOLINT(concurrency-mt-unsafe)
    if (!pid || !fds) return std::nullopt;
    bool ours = std::strtol(pid, nullptr, 10) == getpid() && std::strtol(fds, nullptr, 10) >= 1;
    unsetenv("LISTEN_PID");      // NOLINT(concurrency-mt-unsafe)
    unsetenv("LISTEN_FDS");      // NOLINT(concurrency-mt-unsafe)
    unsetenv("LISTEN_FDNAMES");  // NOLINT(concurrency-mt-unsafe)
    if (!ours) return std::nullopt;
    // systemd hands the fds over without O_CLOEXEC; every fd of ours must have it.
    if (fcntl(kListenFdsStart, F_SETFD, FD_CLOEXEC) != 0)
        throw system_error("fcntl(3, FD_CLOEXEC) on the activated socket");
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(kListenFdsStart, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        throw make_error(ErrorKind::invalid, "socket activation: fd 3 is not a stream socket");
    return kListenFdsStart;
}

BoundSocket bind_socket(const std::string& path, const std::string& group_name) {
    sockaddr_un addr = unix_address(path);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    remove_stale_socket(path);

    BoundSocket result;
    if (!group_name.empty()) {
        struct group entry {};
        struct group* found = nullptr;
        std::vector<char> buffer(16384);
        if (getgrnam_r(group_name.c_str(), &entry, buffer.data(), buffer.size(), &found) == 0 &&
            found) {
            result.group = found->gr_gid;
            result.mode = 0660;
        }
    }
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw system_error("socket");
    // bind() creates the file with 0777 & ~umask: tighten the umask around it so that there is
    // no moment in which the socket is open to everyone.
    mode_t old = umask(0177);
    int rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int err = errno;
    umask(old);
    if (rc != 0) throw system_error("bind " + path, err);
    if (result.group && chown(path.c_str(), static_cast<uid_t>(-1), *result.group) != 0)
        throw system_error("chown " + path);
    if (chmod(path.c_str(), result.mode) != 0) throw system_error("chmod " + path);
    if (listen(fd.get(), SOMAXCONN) != 0) throw system_error("listen " + path);
    result.fd = fd.release();
    return result;
}

std::optional<gid_t> socket_group(int fd) {
    sockaddr_un addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        len <= offsetof(sockaddr_un, sun_path) || addr.sun_path[0] != '/')
        return std::nullopt;
    struct stat st {};
    if (stat(addr.sun_path, &st) != 0) return std::nullopt;
    // Group access only means something if the file grants its group read/write.
    if ((st.st_mode & 0060) != 0060) return std::nullopt;
    return st.st_gid;
}

bool peer_allowed(uid_t uid, gid_t gid, std::optional<gid_t> group) {
    if (uid == 0 || uid == geteuid()) return true;
    if (!group) return false;
    if (gid == *group) return true;
    // Supplementary groups of the peer's user (what `usermod -aG truman alice` grants).
    std::vector<char> buffer(16384);
    struct passwd pw {};
    struct passwd* found = nullptr;
    if (getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) != 0 || !found) return false;
    std::vector<gid_t> groups(64);
    int count = static_cast<int>(groups.size());
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
        groups.resize(static_cast<size_t>(count));
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) return false;
    }
    for (int i = 0; i < count; ++i)
        if (groups[static_cast<size_t>(i)] == *group) return true;
    return false;
}

}  // namespace truman::trumand
