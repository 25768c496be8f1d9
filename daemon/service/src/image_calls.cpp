// The image calls' defaults: a ContainerService without images says so, as an error the API
// maps to 400 (unsupported).
#include "truman/daemon/service.hpp"
#include "truman/error.hpp"

namespace truman::daemon {

namespace {
[[noreturn]] void no_images() {
    throw make_error(ErrorKind::unsupported, "this service has no image store");
}
}  // namespace

// The callbacks are by value in the interface, for implementations that keep them.
// NOLINTBEGIN(performance-unnecessary-value-param)
void ContainerService::async_pull_image(const PullRequest&,
                                        std::function<void(const PullProgressEvent&)>,
                                        std::function<void(std::exception_ptr, ImageInfo)>) {
    no_images();
}
// NOLINTEND(performance-unnecessary-value-param)
std::vector<ImageInfo> ContainerService::list_images() {
    no_images();
}
ImageInfo ContainerService::inspect_image(const std::string&) {
    no_images();
}
void ContainerService::remove_image(const std::string&, bool) {
    no_images();
}
ImageInfo ContainerService::tag_image(const std::string&, const std::string&) {
    no_images();
}
std::vector<ImageInfo> ContainerService::import_images(const ImageSource&, const std::string&) {
    no_images();
}
ImageExporter ContainerService::export_image(const std::string&) {
    no_images();
}
void ContainerService::login_registry(const LoginRequest&) {
    no_images();
}
void ContainerService::logout_registry(const std::string&) {
    no_images();
}

}  // namespace truman::daemon
