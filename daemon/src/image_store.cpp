#include "truman/daemon/image_store.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/names.hpp"
#include "truman/daemon/unique_fd.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;

extern char** environ;

namespace truman::daemon {

namespace {

// Run `program --list` and return its stdout. posix_spawn (vfork-like) is safe from a
// multi-threaded process, unlike fork.
std::string busybox_applets(const std::string& program) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) throw system_error("pipe2");
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    std::string arg0 = program, arg1 = "--list";
    char* argv[] = {arg0.data(), arg1.data(), nullptr};
    pid_t pid = 0;
    int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw system_error("spawn " + program + " --list", rc);
    write_end.reset();
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = read(read_end.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw make_error(ErrorKind::system, program + " --list failed");
    return out;
}

void write_text(const fs::path& path, const std::string& text) {
    write_file_atomic(path.string(), text, 0644);
}

void build_busybox_rootfs(const fs::path& rootfs, const std::string& busybox_path) {
    fs::create_directories(rootfs);
    fs::permissions(rootfs, fs::perms(0755));
    for (const char* dir : {"bin", "etc", "proc", "sys", "dev", "tmp", "root"}) {
        fs::create_directory(rootfs / dir);
        fs::permissions(rootfs / dir, fs::perms(0755));
    }
    fs::permissions(rootfs / "tmp", fs::perms(01777));
    fs::permissions(rootfs / "root", fs::perms(0700));
    fs::copy_file(busybox_path, rootfs / "bin/busybox");
    fs::permissions(rootfs / "bin/busybox", fs::perms(0755));
    std::istringstream applets(busybox_applets(busybox_path));
    for (std::string name; std::getline(applets, name);) {
        if (name.empty() || name == "busybox" || name.find('/') != std::string::npos) continue;
        // Relative, so the link resolves inside the container and on the host alike.
        fs::create_symlink("busybox", rootfs / "bin" / name);
    }
    write_text(rootfs / "etc/passwd",
               "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
    write_text(rootfs / "etc/group", "root:x:0:\nnogroup:x:65534:\n");
}

}  // namespace

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
        build_busybox_rootfs(fs::path(temp) / "rootfs", busybox_path);
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
