#include "truman/idmap.hpp"

#include <fcntl.h>
#include <sys/capability.h>
#include <unistd.h>

#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman {

std::string id_map_text(const std::vector<IdMapping>& mappings) {
    std::string text;
    for (const auto& m : mappings)
        text += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " +
                std::to_string(m.size) + "\n";
    return text;
}

namespace {
// The kernel accepts a map in exactly one write(), and only once.
void write_whole(const std::string& path, const std::string& text) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw system_error("open " + path);
    ssize_t n = ::write(fd.get(), text.data(), text.size());
    if (n < 0)
        throw system_error("write " + path + " \"" + text.substr(0, text.find('\n')) + "...\"");
    if (static_cast<size_t>(n) != text.size())
        throw system_error("write " + path + ": short write", EIO);
}
}  // namespace

void write_id_maps(pid_t pid, const std::vector<IdMapping>& uid_mappings,
                   const std::vector<IdMapping>& gid_mappings, bool deny_setgroups,
                   const std::string& proc) {
    std::string base = proc + "/" + std::to_string(pid) + "/";
    write_whole(base + "uid_map", id_map_text(uid_mappings));
    if (deny_setgroups) write_whole(base + "setgroups", "deny");
    write_whole(base + "gid_map", id_map_text(gid_mappings));
}

bool must_deny_setgroups() {
    cap_t caps = cap_get_proc();
    if (!caps) return true;
    cap_flag_value_t v = CAP_CLEAR;
    cap_get_flag(caps, CAP_SETGID, CAP_EFFECTIVE, &v);
    cap_free(caps);
    return v != CAP_SET;
}

}  // namespace truman
