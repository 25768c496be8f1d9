#include "container_helpers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <stdexcept>

#include "test_support.hpp"

namespace truman::test {

CreateOptions make_options(const std::string& id, CgroupManager* cgroups) {
    CreateOptions o;
    o.id = id;
    o.cgroups = cgroups;
    return o;
}

ContainerSpec busybox_spec(const std::string& script) {
    return default_spec(busybox_rootfs(), {"/bin/sh", "-c", script});
}

void add_user_namespace(ContainerSpec& spec, uint32_t host_id, uint32_t size) {
    spec.linux.namespaces.push_back({NamespaceType::user, ""});
    spec.linux.uid_mappings = {{0, host_id, size}};
    spec.linux.gid_mappings = {{0, host_id, size}};
}

RunResult run_container(const ContainerSpec& spec, CgroupManager* cgroups, const std::string& id) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    CreateOptions options;
    options.id = id.empty() ? unique_name("run") : id;
    options.stdout_fd = fds[1];
    options.stderr_fd = fds[1];
    options.cgroups = cgroups;
    std::unique_ptr<Container> c;
    try {
        c = Container::create(spec, options);
    } catch (...) {
        close(fds[0]);
        close(fds[1]);
        throw;
    }
    close(fds[1]);
    RunResult result;
    try {
        c->start();
    } catch (...) {
        close(fds[0]);
        throw;
    }
    // Denied syscalls wait for an answer, so serve them while reading the output.
    char buf[4096];
    for (;;) {
        if (c->seccomp_fd() >= 0) {
            struct pollfd p[2] = {{fds[0], POLLIN, 0}, {c->seccomp_fd(), POLLIN, 0}};
            if (poll(p, 2, -1) < 0) continue;
            if (p[1].revents & POLLIN) c->handle_seccomp();
            if (!(p[0].revents & (POLLIN | POLLHUP))) continue;
        }
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        result.out.append(buf, n);
    }
    close(fds[0]);
    result.status = c->wait();
    c->destroy();
    return result;
}

}  // namespace truman::test
