// The rules for device nodes and device cgroup rules (see truman/devices.hpp).
#include "truman/devices.hpp"

#include <string>

#include "truman/error.hpp"
#include "truman/mounts.hpp"
#include "truman/spec.hpp"

namespace truman {

namespace {

// A number the kernel can name a device by. Beyond the limits no device can match, and in
// the cgroup v2 program (32-bit immediates) a number past 2^32 would even wrap onto a real
// device: 4294967297 would allow major 1 (/dev/mem).
void check_number(int64_t number, int64_t max, const std::string& field) {
    if (number < 0 || number > max)
        throw invalid_argument(field, "must be between 0 and " + std::to_string(max));
}

void check_node(const Device& d, const std::string& item) {
    if (d.path.rfind("/dev/", 0) != 0 || d.path.size() == 5) {
        throw invalid_argument(item + ".path", "must be a path under /dev/");
    }
    validate_container_path(d.path, item + ".path");
    if (d.type != 'c' && d.type != 'b' && d.type != 'u' && d.type != 'p') {
        throw invalid_argument(item + ".type", "must be c, b, u or p");
    }
    if (device_has_numbers(d.type)) {
        check_number(d.major, kMaxDeviceMajor, item + ".major");
        check_number(d.minor, kMaxDeviceMinor, item + ".minor");
    }
    if (d.file_mode && *d.file_mode > 07777) {
        throw invalid_argument(item + ".fileMode", "must be permission bits (at most 07777)");
    }
}

void check_rule(const DeviceRule& r, const std::string& item) {
    if (r.type != 'a' && r.type != 'c' && r.type != 'b') {
        throw invalid_argument(item + ".type", "must be a, c or b");
    }
    if (r.major) check_number(*r.major, kMaxDeviceMajor, item + ".major");
    if (r.minor) check_number(*r.minor, kMaxDeviceMinor, item + ".minor");
    bool access_ok = !r.access.empty() && r.access.size() <= 3 &&
                     r.access.find_first_not_of("rwm") == std::string::npos;
    if (!access_ok) throw invalid_argument(item + ".access", "must be letters from \"rwm\"");
}

}  // namespace

void validate_devices(const Linux& l) {
    for (size_t i = 0; i < l.devices.size(); ++i)
        check_node(l.devices[i], index_path("linux.devices", i));
    for (size_t i = 0; i < l.resources.devices.size(); ++i)
        check_rule(l.resources.devices[i], index_path("linux.resources.devices", i));
}

}  // namespace truman
