// Images: read-only root filesystems under <state-dir>/images/<name>/rootfs that containers
// overlay. For now there is one, "busybox", built from the host's static busybox.
#pragma once

#include <optional>
#include <string>

namespace truman::daemon {

// The rootfs of image `name` under images_dir, nullopt if there is none (or the name is not a
// valid image name, so "../x" can never escape images_dir).
std::optional<std::string> find_image(const std::string& images_dir, const std::string& name);

// Build images_dir/busybox/rootfs unless it exists: bin/busybox (copied from busybox_path,
// which must be static), a relative symlink per applet from `busybox --list`, /etc/passwd,
// /etc/group and empty proc sys dev tmp(1777) root etc. Built in a temp dir and renamed into
// place, so a crash never leaves a half-built image. Throws truman::Error.
void ensure_busybox_image(const std::string& images_dir, const std::string& busybox_path);

}  // namespace truman::daemon
