// truman-demo: run one fully isolated container from a fresh busybox root filesystem and show
// what it sees. The README's first command; no daemon involved.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "truman/cgroups.hpp"
#include "truman/container.hpp"
#include "truman/error.hpp"
#include "truman/rootfs.hpp"

namespace {
const char* kScript =
    "echo \"== process ==\"; echo \"pid $$, parent $PPID, uid $(id -u)\"; ps;"
    "echo \"== hostname ==\"; hostname;"
    "echo \"== uid map ==\"; cat /proc/self/uid_map;"
    "echo \"== mounts ==\"; cat /proc/self/mounts;"
    "echo \"== network ==\"; ip -o addr | sed 's/  */ /g';"
    "echo \"== seccomp, no_new_privs ==\"; grep -E '^(Seccomp|NoNewPrivs|CapEff):' "
    "/proc/self/status;"
    "echo \"== trying to mount ==\"; mount -t tmpfs none /mnt || true";
}

int main(int argc, char** argv) {
    std::string busybox = argc > 1 ? argv[1] : "/bin/busybox";
    char tmpl[] = "/tmp/truman-demo-XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    std::string rootfs = tmpl;
    int rc = 0;
    try {
        truman::make_busybox_rootfs(rootfs, busybox);
        truman::ContainerSpec spec = truman::default_spec(rootfs, {"/bin/sh", "-c", kScript});
        spec.hostname = "demo";
        // Container root is an unprivileged host uid; a veth pair gives it a real interface.
        spec.linux.namespaces.push_back({truman::NamespaceType::user, ""});
        spec.linux.uid_mappings = {{0, 100000, 65536}};
        spec.linux.gid_mappings = {{0, 100000, 65536}};
        spec.network.mode = truman::Network::Mode::veth;
        spec.network.address = "10.88.0.2/24";
        auto cgroups = truman::detect_cgroups();
        std::cout << "host: cgroup mode " << truman::to_string(cgroups->mode()) << ", my pid "
                  << getpid() << "\n";

        auto t0 = std::chrono::steady_clock::now();
        truman::CreateOptions options;
        options.id = "demo" + std::to_string(getpid());
        options.cgroups = cgroups.get();
        options.stdout_fd = STDOUT_FILENO;
        options.stderr_fd = STDERR_FILENO;
        auto c = truman::Container::create(spec, options);
        auto t1 = std::chrono::steady_clock::now();
        std::cout << "host: created container " << options.id << ": host pid " << c->pid()
                  << ", host veth " << c->host_interface() << ", cgroup "
                  << (c->cgroup() ? c->cgroup()->path() : "-") << " in "
                  << std::chrono::duration<double, std::milli>(t1 - t0).count() << " ms\n\n";
        std::cout.flush();
        c->on_blocked([](const truman::BlockedSyscall& b) {
            std::cerr << "host: seccomp blocked " << b.name << " (nr " << b.nr << ") from pid "
                      << b.pid << "\n";
        });
        c->start();
        truman::ExitStatus s = c->wait();
        std::cout << "\nhost: container exited with code " << s.exit_code << "\n";
        c->destroy();
        rc = s.exit_code;
    } catch (const std::exception& e) {
        std::cerr << "truman-demo: " << e.what() << "\n";
        rc = 1;
    }
    std::error_code ec;
    std::filesystem::remove_all(rootfs, ec);
    return rc;
}
