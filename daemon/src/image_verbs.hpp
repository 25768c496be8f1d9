// The image verbs (image_verbs.cpp), as functions over the registry like the container verbs
// in verbs.hpp. Each throws truman::Error.
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "registry.hpp"
#include "truman/daemon/service.hpp"

namespace truman::daemon::verbs {

void pull_image(ContainerRegistry& registry, const PullRequest& request,
                std::function<void(const PullProgressEvent&)> on_progress,
                std::function<void(std::exception_ptr, ImageInfo)> done);
std::vector<ImageInfo> list_images(ContainerRegistry& registry);
ImageInfo inspect_image(ContainerRegistry& registry, const std::string& ref);
void remove_image(ContainerRegistry& registry, const std::string& ref, bool force);
ImageInfo tag_image(ContainerRegistry& registry, const std::string& ref,
                    const std::string& new_ref);
std::vector<ImageInfo> import_images(ContainerRegistry& registry, const ImageSource& source,
                                     const std::string& tag);
ImageExporter export_image(ContainerRegistry& registry, const std::string& ref);
// After a container on an image's layers is gone: deletes the layers and blobs nobody uses
// any more (those of an image removed with force while the container ran). At once when no
// pull, import or export holds the store; else on a thread of its own once they are done,
// so that the caller's reply does not wait for a download. Never throws (logs).
void collect_image_garbage(ContainerRegistry& registry);
// The image layers (short link names) a container's overlay stacks; none for a rootfs.
std::vector<std::string> overlay_layers(const ContainerSpec& spec);
void login_registry(ContainerRegistry& registry, const LoginRequest& request);
void logout_registry(ContainerRegistry& registry, const std::string& name);

}  // namespace truman::daemon::verbs
