// Capability names -> bit masks, prepared in the parent so that the child only calls
// capset/prctl with ready numbers.
#include "truman/capabilities.hpp"

#include <fcntl.h>
#include <sys/capability.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "truman/error.hpp"

namespace truman {
namespace {

// OCI spells capabilities "CAP_" + upper case; libcap would also take "net_admin" or "12",
// which the spec does not allow.
bool oci_capability_spelling(const std::string& name) {
    if (name.size() <= 4 || name.compare(0, 4, "CAP_") != 0) return false;
    return std::all_of(name.begin() + 4, name.end(), [](unsigned char c) {
        return std::isupper(c) || std::isdigit(c) || c == '_';
    });
}

int capability_for_field(const std::string& name, const std::string& field) {
    cap_value_t value = 0;
    if (!oci_capability_spelling(name) || cap_from_name(name.c_str(), &value) != 0 || value < 0)
        throw invalid_argument(field, "unknown capability \"" + name + "\"");
    if (value > last_capability())
        throw unsupported_argument(field, name + " (" + std::to_string(value) +
                                              ") is not supported by this kernel (last "
                                              "capability is " +
                                              std::to_string(last_capability()) + ")");
    return value;
}

uint64_t mask_of(const std::vector<std::string>& names, const std::string& field) {
    uint64_t mask = 0;
    for (size_t i = 0; i < names.size(); ++i)
        mask |=
            uint64_t{1} << capability_for_field(names[i], field + "[" + std::to_string(i) + "]");
    return mask;
}

// The first capability set in `extra` but not in `allowed`, by name.
std::string first_outside(uint64_t extra, uint64_t allowed) {
    uint64_t outside = extra & ~allowed;
    for (int cap = 0; cap < 64; ++cap)
        if (outside & (uint64_t{1} << cap)) return capability_name(cap);
    return {};
}

int read_last_capability() noexcept {
    int fd = ::open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[16] = {};
        ssize_t n = ::read(fd, buf, sizeof buf - 1);
        ::close(fd);
        if (n > 0) {
            int value = std::atoi(buf);
            if (value > 0 && value < 64) return value;
        }
    }
    // No /proc (or an odd one): what libcap was built to know.
    cap_value_t bits = cap_max_bits();
    return bits > 0 ? bits - 1 : CAP_LAST_CAP;
}

}  // namespace

int capability_from_name(const std::string& name, const std::string& field) {
    return capability_for_field(name, field);
}

std::string capability_name(int cap) {
    std::string name;
    if (char* text = cap_to_name(cap)) {
        name = text;
        cap_free(text);
    }
    // libcap prints capabilities it has no name for as bare numbers.
    if (name.rfind("cap_", 0) != 0) return "CAP_" + std::to_string(cap);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return name;
}

int last_capability() noexcept {
    static const int last = read_last_capability();
    return last;
}

const std::vector<std::string>& default_capabilities() {
    // Docker's default set (moby oci/caps/defaults.go), in Docker's order.
    static const std::vector<std::string> caps = {
        "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
        "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_KILL",    "CAP_AUDIT_WRITE"};
    return caps;
}

CapabilityMasks capability_masks(const std::optional<Capabilities>& caps) {
    CapabilityMasks masks;
    if (!caps) {
        uint64_t docker = mask_of(default_capabilities(), "default capabilities");
        masks.bounding = masks.effective = masks.permitted = docker;
        return masks;
    }
    const std::string field = "process.capabilities";
    masks.bounding = mask_of(caps->bounding, field + ".bounding");
    masks.effective = mask_of(caps->effective, field + ".effective");
    masks.permitted = mask_of(caps->permitted, field + ".permitted");
    masks.inheritable = mask_of(caps->inheritable, field + ".inheritable");
    masks.ambient = mask_of(caps->ambient, field + ".ambient");

    // The kernel refuses these at capset / PR_CAP_AMBIENT_RAISE time, in the child, where
    // the error could only be a bare EPERM: say which capability is wrong up front.
    if (auto cap = first_outside(masks.effective, masks.permitted); !cap.empty())
        throw invalid_argument(field + ".effective", cap + " is not in the permitted set");
    if (auto cap = first_outside(masks.ambient, masks.permitted & masks.inheritable); !cap.empty())
        throw invalid_argument(field + ".ambient",
                               cap + " must be in both the permitted and the inheritable set");
    return masks;
}

void validate_capabilities(const std::optional<Capabilities>& caps) {
    capability_masks(caps);
}

}  // namespace truman
