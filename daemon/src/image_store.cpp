#include "truman/daemon/image_store.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "truman/daemon/names.hpp"
#include "truman/error.hpp"
#include "truman/rootfs.hpp"

namespace fs = std::filesystem;

namespace truman::daemon {

std::optional<std::string> find_image(const std::string& images_dir, const std::string& name) {
    if (!is_valid_name(name)) return std::nullopt;
    std::string rootfs = images_dir + "/" + name + "/rootfs";
    struct stat st {};
    if (stat(rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
    return rootfs;
}

void ensure_busybox_image(const std::string& images_dir, const std::string& busybox_path) {
    if (find_image(images_dir, "busybox")) return;
    fs::create_directories(images_dir);
    if (access(busybox_path.c_str(), X_OK) != 0)
        throw make_error(ErrorKind::not_found, "busybox for the default image: " + busybox_path,
                         errno);
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(images_dir, ec))  // crashed earlier builds
        if (entry.path().filename().string().rfind(".busybox.", 0) == 0)
            fs::remove_all(entry.path(), ec);
    std::string temp = images_dir + "/.busybox.XXXXXX";
    if (!mkdtemp(temp.data())) throw system_error("mkdtemp " + temp);
    try {
        make_busybox_rootfs((fs::path(temp) / "rootfs").string(), busybox_path);
        fs::permissions(temp, fs::perms(0755));
        std::string final_dir = images_dir + "/busybox";
        // A directory left by an interrupted older layout would make rename fail; it has no
        // rootfs (find_image said so), so it holds nothing worth keeping.
        fs::remove_all(final_dir, ec);
        if (rename(temp.c_str(), final_dir.c_str()) < 0)
            throw system_error("rename " + temp + " to " + final_dir);
    } catch (const fs::filesystem_error& e) {
        fs::remove_all(temp, ec);
        throw make_error(ErrorKind::system, "build busybox image: " + std::string(e.what()));
    } catch (...) {
        fs::remove_all(temp, ec);
        throw;
    }
    spdlog::info("built image busybox in {}/busybox from {}", images_dir, busybox_path);
}

}  // namespace truman::daemon
