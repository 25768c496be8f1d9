#include "truman/rootfs.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "truman/error.hpp"

namespace fs = std::filesystem;

namespace truman {

namespace {
// `busybox --list`: the applets this build has, one per line.
std::string list_applets(const std::string& busybox) {
    std::string command = "'" + busybox + "' --list";
    FILE* p = ::popen(command.c_str(), "re");
    if (!p) throw system_error("run " + command);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = ::pclose(p);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw make_error(ErrorKind::not_found,
                         busybox + " --list failed: is busybox-static installed?");
    return out;
}
}  // namespace

void make_busybox_rootfs(const std::string& dir, const std::string& busybox) {
    try {
        fs::path root(dir);
        for (const char* d : {"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp",
                              "etc", "root", "home", "var", "run", "mnt"})
            fs::create_directories(root / d);
        fs::permissions(root / "tmp", fs::perms::all | fs::perms::sticky_bit);
        fs::permissions(root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
        fs::copy_file(busybox, root / "bin/busybox", fs::copy_options::overwrite_existing);
        std::istringstream names(list_applets(busybox));
        for (std::string name; std::getline(names, name);) {
            if (name.empty() || name == "busybox" || name.find('/') != std::string::npos) continue;
            std::error_code ec;
            // Relative, so that the host can resolve them too (the runtime looks up commands
            // in the rootfs before the container exists).
            fs::create_symlink("busybox", root / "bin" / name, ec);
        }
        std::ofstream(root / "etc/passwd")
            << "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
        std::ofstream(root / "etc/group") << "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n";
        std::ofstream(root / "etc/hostname") << "truman\n";
    } catch (const fs::filesystem_error& e) {
        throw make_error(ErrorKind::system, "make busybox rootfs in " + dir + ": " + e.what(),
                         e.code().value());
    }
}

}  // namespace truman
