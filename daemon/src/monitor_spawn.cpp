#include "monitor_spawn.hpp"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "truman/daemon/atomic_file.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

#ifndef TRUMAN_MONITOR_INSTALL_PATH
#define TRUMAN_MONITOR_INSTALL_PATH "/usr/local/libexec/truman/truman-monitor"
#endif

extern char** environ;

namespace truman::daemon {

namespace {

constexpr int sync_fd_in_monitor = 3;

long long now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

// Read until '\n' or EOF; "" on EOF without a line. Throws on timeout.
std::string read_line(int fd, long long deadline, bool* eof) {
    std::string line;
    *eof = false;
    for (;;) {
        auto nl = line.find('\n');
        if (nl != std::string::npos) return line.substr(0, nl);
        long long left = deadline - now_ms();
        if (left <= 0)
            throw make_error(ErrorKind::system, "monitor did not report in time", ETIMEDOUT);
        pollfd p{fd, POLLIN, 0};
        int n = poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw system_error("poll monitor sync pipe");
        if (n == 0) continue;
        char buf[4096];
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw system_error("read monitor sync pipe");
        if (got == 0) {
            *eof = true;
            return line;
        }
        line.append(buf, static_cast<size_t>(got));
    }
}

class SpawnActions {
  public:
    SpawnActions() {
        posix_spawn_file_actions_init(&actions_);
        posix_spawnattr_init(&attr_);
    }
    ~SpawnActions() {
        posix_spawn_file_actions_destroy(&actions_);
        posix_spawnattr_destroy(&attr_);
    }
    posix_spawn_file_actions_t actions_;
    posix_spawnattr_t attr_;
};

}  // namespace

std::string default_monitor_path() {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        std::string path(exe, static_cast<size_t>(n));
        std::string dir = path.substr(0, path.rfind('/') + 1);
        std::string candidate = dir + "truman-monitor";
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
#ifdef TRUMAN_MONITOR_RELATIVE_PATH
        // bin/trumand -> libexec/truman/truman-monitor of the same (possibly relocated) tree.
        candidate = dir + TRUMAN_MONITOR_RELATIVE_PATH;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
#endif
    }
    return TRUMAN_MONITOR_INSTALL_PATH;
}

MonitorReply spawn_monitor(const MonitorLaunch& launch) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) throw system_error("pipe2");
    Fd sync_read(fds[0]), sync_write(fds[1]);
    if (sync_write.get() == sync_fd_in_monitor) {
        // dup2 onto itself would keep O_CLOEXEC and the monitor would lose the pipe.
        sync_write = Fd(fcntl(sync_write.get(), F_DUPFD_CLOEXEC, 10));
        if (!sync_write) throw system_error("dup sync pipe");
    }

    SpawnActions spawn;
    posix_spawn_file_actions_addopen(&spawn.actions_, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&spawn.actions_, 1, launch.log_file.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&spawn.actions_, 1, 2);
    posix_spawn_file_actions_adddup2(&spawn.actions_, sync_write.get(), sync_fd_in_monitor);
    // trumand's descriptors are all O_CLOEXEC; this is the belt to those braces.
    posix_spawn_file_actions_addclosefrom_np(&spawn.actions_, sync_fd_in_monitor + 1);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&spawn.attr_, &none);
    posix_spawnattr_setsigdefault(&spawn.attr_, &all);
    // A session of its own: signals for trumand's process group or terminal stay there.
    posix_spawnattr_setflags(&spawn.attr_,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::string sync_arg = std::to_string(sync_fd_in_monitor);
    std::string max_arg = std::to_string(launch.log_max_bytes);
    std::vector<std::string> args = {launch.monitor_path};
    if (launch.sealed_copy) args.emplace_back("--sealed-copy");
    for (const std::string& a : {std::string("--container-dir"), launch.container_dir,
                                 std::string("--run-dir"), launch.run_dir, std::string("--sync-fd"),
                                 sync_arg, std::string("--log-max-bytes"), max_arg})
        args.push_back(a);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_t pid = 0;
    int rc = posix_spawn(&pid, launch.monitor_path.c_str(), &spawn.actions_, &spawn.attr_,
                         argv.data(), environ);
    if (rc != 0) throw system_error("spawn " + launch.monitor_path, rc);
    sync_write.reset();
    // The first monitor process forks the real one and exits at once; reap it here so
    // trumand never holds a zombie.
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }

    long long deadline = now_ms() + launch.timeout_ms;
    bool eof = false;
    std::string line = read_line(sync_read.get(), deadline, &eof);
    if (line.empty()) {
        // The caller removes the container directory, monitor.log with it: quote its end.
        std::string log;
        try {
            log = read_whole_file(launch.log_file);
        } catch (const Error&) {
        }
        if (log.size() > 400) log = "..." + log.substr(log.size() - 400);
        while (!log.empty() && log.back() == '\n') log.pop_back();
        throw make_error(ErrorKind::system, "monitor " + launch.monitor_path +
                                                " exited without reporting" +
                                                (log.empty() ? "" : ": " + log));
    }
    MonitorReply reply = parse_reply(line);
    if (!reply.error && (reply.pid <= 0 || reply.monitor_pid <= 0))
        throw make_error(ErrorKind::system, "monitor reported success without its pids: " + line);
    if (reply.error && !eof) {
        // Wait for the failed monitor to be gone (EOF) before the caller removes its files.
        try {
            std::string rest;
            while (!eof) rest = read_line(sync_read.get(), now_ms() + 10000, &eof);
        } catch (const Error&) {
        }
    }
    return reply;
}

}  // namespace truman::daemon
