// truman-monitor [--sealed-copy] --container-dir DIR --run-dir DIR --sync-fd N
//                [--log-max-bytes N]
//
// Started by trumand with posix_spawn (in a new session). It forks once and the first
// process exits at once: trumand reaps that short-lived process, and the real monitor is
// re-parented to init, so trumand never holds a zombie and the monitor outlives trumand.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "monitor.hpp"
#include "truman/sealed_exe.hpp"

extern char** environ;

namespace {

void usage() {
    fprintf(stderr,
            "usage: truman-monitor [--sealed-copy] --container-dir DIR --run-dir DIR "
            "--sync-fd N [--log-max-bytes N]\n");
}

void ignore_signal(int) {}

}  // namespace

int main(int argc, char** argv) {
    // --sealed-copy (a container with CAP_SYS_PTRACE and no user namespace, see
    // truman/sealed_exe.hpp): run from a sealed memfd copy of ourselves, so that no process
    // we fork for the container ever shows it the host's file. First, before anything is
    // opened: the re-exec keeps only what trumand handed us (0-2 and the sync fd), and the
    // copy comes back here with the same argv.
    if (argc > 1 && std::strcmp(argv[1], "--sealed-copy") == 0) {
        try {
            truman::reexec_from_sealed_copy(argv, environ);
        } catch (const std::exception& e) {
            fprintf(stderr, "truman-monitor: %s\n", e.what());
            return 1;
        }
        --argc;
        ++argv;
    }
    truman::daemon::MonitorOptions options;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--container-dir")
            options.container_dir = value;
        else if (flag == "--run-dir")
            options.run_dir = value;
        else if (flag == "--sync-fd")
            options.sync_fd = std::atoi(value.c_str());
        else if (flag == "--log-max-bytes")
            options.log_max_bytes = std::strtoull(value.c_str(), nullptr, 10);
        else {
            usage();
            return 2;
        }
    }
    if (argc % 2 == 0 || options.container_dir.empty() || options.run_dir.empty() ||
        options.sync_fd < 0) {
        usage();
        return 2;
    }

    // The container must not inherit the sync pipe (its EOF tells the service we are gone).
    fcntl(options.sync_fd, F_SETFD, FD_CLOEXEC);

    // trumand holds the other end until we report. No reader left means the trumand that
    // spawned us died between its posix_spawn and our exec: its successor has abandoned this
    // container (it looked for its monitor before we had our name) and may be removing its
    // directory. Touch nothing, so that the remove sees no file appear under it.
    pollfd reader{options.sync_fd, POLLOUT, 0};
    if (poll(&reader, 1, 0) == 1 && (reader.revents & POLLERR) != 0) return 3;

    // Not a controlling-terminal session member of trumand: a terminal hangup or ^C aimed at
    // trumand must not reach us.
    if (getsid(0) != getpid()) setsid();
    pid_t child = fork();
    if (child < 0) {
        perror("truman-monitor: fork");
        return 1;
    }
    if (child > 0) _exit(0);

    // SIGTERM/SIGHUP/SIGINT must not kill the monitor (it would lose the exit code and the
    // logs). A no-op handler rather than SIG_IGN: handlers are reset by execve, so the
    // container still gets default dispositions, while SIG_IGN would be inherited by it.
    struct sigaction sa {};
    sa.sa_handler = ignore_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGTERM, SIGHUP, SIGINT, SIGPIPE, SIGUSR1, SIGUSR2})
        sigaction(sig, &sa, nullptr);

    // stderr is <container-dir>/monitor.log (set up by the service).
    auto logger = spdlog::stderr_logger_st("truman-monitor");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ [%l] [%P] %v", spdlog::pattern_time_type::utc);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);

    return truman::daemon::run_monitor(options);
}
