// Devices: the nodes a container gets (linux.devices, made by the mount plan) and the device
// cgroup rules (linux.resources.devices, applied by the cgroup backends). Both name devices by
// type and major:minor, and both follow the kernel's limits on those numbers.
#pragma once

#include <cstdint>

namespace truman {

// The kernel's dev_t is 32 bits with MINORBITS = 20 (include/linux/kdev_t.h), which leaves
// MAJORBITS = 12; mknod(2) takes that 32-bit encoding, so no device has a larger number.
constexpr int64_t kMaxDeviceMajor = 0xfff;    // 4095
constexpr int64_t kMaxDeviceMinor = 0xfffff;  // 1048575

// Every node type but a FIFO ('p') is a device with a major and a minor number.
constexpr bool device_has_numbers(char type) noexcept {
    return type != 'p';
}

struct Linux;

// linux.devices (a path under /dev/, type c, b, u or p, numbers within the kernel's limits,
// fileMode permission bits only) and linux.resources.devices (type a, c or b, numbers within
// the same limits or absent for "any", access letters from "rwm"). Throws truman::Error
// (invalid) naming the OCI field.
void validate_devices(const Linux& linux);

}  // namespace truman
