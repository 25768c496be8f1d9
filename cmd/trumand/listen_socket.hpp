// trumand's listening socket: inherited from systemd (socket activation) or bound at a path,
// and who may talk to it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace truman::trumand {

// fd 3 when systemd passed us sockets (LISTEN_PID is us, LISTEN_FDS >= 1); nullopt otherwise.
// Clears the LISTEN_* variables so children (monitors) do not believe they were activated.
std::optional<int> activated_socket();

struct BoundSocket {
    int fd = -1;
    mode_t mode = 0600;
    std::optional<gid_t> group;  // the socket file's group when a group grants access
};

// Bind and listen at path. A leftover socket file is removed only if nothing answers on it (a
// connect test), so a second daemon on the same path fails instead of stealing it. Mode 0660
// with group group_name if that group exists, else 0600. Throws truman::Error.
BoundSocket bind_socket(const std::string& path, const std::string& group_name);

// The group of an inherited socket's file, for the peer check (nullopt if not a path socket).
std::optional<gid_t> socket_group(int fd);

// Who may use the API: root, the daemon's own uid, and members of group (their primary gid or
// a supplementary group of the peer's user).
bool peer_allowed(uid_t uid, gid_t gid, std::optional<gid_t> group);

}  // namespace truman::trumand
