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

void validate_id_mappings(const std::vector<IdMapping>& maps, const std::string& field) {
    // The kernel's limit on lines in /proc/<pid>/{uid,gid}_map (since Linux 4.15).
    constexpr size_t kMaxLines = 340;
    if (maps.size() > kMaxLines) {
        throw invalid_argument(
            field, "at most 340 mappings (kernel limit), got " + std::to_string(maps.size()));
    }
    constexpr uint64_t kIdSpace = uint64_t{1} << 32;
    auto overlaps = [](uint64_t a, uint64_t b, uint64_t size_a, uint64_t size_b) {
        return a < b + size_b && b < a + size_a;
    };
    for (size_t i = 0; i < maps.size(); ++i) {
        const IdMapping& m = maps[i];
        std::string item = index_path(field, i);
        if (m.size == 0) throw invalid_argument(item + ".size", "must not be 0");
        if (uint64_t{m.container_id} + m.size > kIdSpace) {
            throw invalid_argument(item, "containerID + size exceeds the 32-bit id range");
        }
        if (uint64_t{m.host_id} + m.size > kIdSpace) {
            throw invalid_argument(item, "hostID + size exceeds the 32-bit id range");
        }
        for (size_t j = 0; j < i; ++j) {
            const IdMapping& other = maps[j];
            if (overlaps(m.container_id, other.container_id, m.size, other.size)) {
                throw invalid_argument(item,
                                       "container range overlaps mapping " + std::to_string(j));
            }
            if (overlaps(m.host_id, other.host_id, m.size, other.size)) {
                throw invalid_argument(item, "host range overlaps mapping " + std::to_string(j));
            }
        }
    }
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
