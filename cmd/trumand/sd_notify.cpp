#include "sd_notify.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>

#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman::trumand {

bool sd_notify(const std::string& state) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in trumand sets the environment
    const char* target = std::getenv("NOTIFY_SOCKET");
    if (!target || !*target) return false;
    size_t length = std::strlen(target);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if ((target[0] != '/' && target[0] != '@') || length >= sizeof addr.sun_path) {
        spdlog::warn("NOTIFY_SOCKET={}: not an absolute or abstract socket address", target);
        return false;
    }
    std::memcpy(addr.sun_path, target, length);
    // Abstract addresses are a NUL followed by the name, and their length is exact (no
    // terminating NUL counted): "@name" -> "\0name".
    if (target[0] == '@') addr.sun_path[0] = '\0';
    socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length +
                                                (target[0] == '@' ? 0 : 1));
    Fd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        spdlog::warn("sd_notify: socket: {}", truman::errno_text(errno));
        return false;
    }
    ssize_t sent = sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                          reinterpret_cast<const sockaddr*>(&addr), addr_len);
    if (sent < 0) {
        spdlog::warn("sd_notify {} to {}: {}", state, target, truman::errno_text(errno));
        return false;
    }
    return true;
}

}  // namespace truman::trumand
