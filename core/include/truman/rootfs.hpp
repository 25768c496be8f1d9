// A minimal root filesystem made from a static busybox: the default image and the tests' root.
#pragma once

#include <string>

namespace truman {

// Fill dir (created if missing) with bin/busybox copied from `busybox` (must be static), a
// relative symlink per applet in bin/, /etc/passwd and /etc/group with root and nobody, and
// empty mount points (proc sys dev tmp mnt ...). Throws truman::Error.
void make_busybox_rootfs(const std::string& dir, const std::string& busybox = "/bin/busybox");

}  // namespace truman
