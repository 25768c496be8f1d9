#include "monitor_watch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <filesystem>

#include "truman/daemon/atomic_file.hpp"
#include "truman/error.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace truman::daemon {

namespace {

Fd pidfd_open(pid_t pid) {
    return Fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
}

// Is pid (still) the monitor of id? A PID can be reused once the monitor is gone.
bool is_monitor_of(pid_t pid, const std::string& id) {
    std::string cmdline;
    try {
        cmdline = read_whole_file("/proc/" + std::to_string(pid) + "/cmdline");
    } catch (const Error&) {
        return false;
    }
    return cmdline.find("truman-monitor") != std::string::npos &&
           cmdline.find(id) != std::string::npos;
}

bool in_our_pid_namespace(pid_t pid) {
    struct stat ours {
    }, theirs{};
    if (stat("/proc/self/ns/pid", &ours) < 0) return true;  // no way to tell: as before
    if (stat(("/proc/" + std::to_string(pid) + "/ns/pid").c_str(), &theirs) < 0) return false;
    return ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
}

}  // namespace

bool wait_for_exit(int pidfd, int timeout_ms) {
    pollfd p{pidfd, POLLIN, 0};
    for (;;) {
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno == EINTR) continue;
        return n > 0;
    }
}

std::shared_ptr<MonitorWatch> MonitorWatch::open(asio::io_context& io, pid_t pid,
                                                 const std::string& id) {
    if (pid <= 0) return nullptr;
    Fd pidfd = pidfd_open(pid);
    if (!pidfd) return nullptr;
    // Checked after pidfd_open: the pidfd pins the process, so this cannot be a PID that is
    // reused after the check.
    if (!is_monitor_of(pid, id)) return nullptr;
    return std::make_shared<MonitorWatch>(io, std::move(pidfd), id);
}

MonitorWatch::MonitorWatch(asio::io_context& io, Fd pidfd, std::string id)
    : descriptor_(io, pidfd.release()), id_(std::move(id)) {}

void MonitorWatch::start(const OnExit& on_exit) {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    arm(on_exit);
    // The reactor registers the pidfd edge-triggered and a wait does not look for itself: an
    // exit between the registration and the queued wait would be an edge nobody sees.
    if (wait_for_exit(descriptor_.native_handle(), 0))
        asio::post(descriptor_.get_executor(),
                   [self = shared_from_this(), on_exit] { self->woken(on_exit); });
}

// Under mutex_.
void MonitorWatch::arm(OnExit on_exit) {
    descriptor_.async_wait(
        asio::posix::stream_descriptor::wait_read,
        [self = shared_from_this(), on_exit = std::move(on_exit)](boost::system::error_code ec) {
            if (ec) return;  // closed: removed, or the service shut down
            self->woken(on_exit);
        });
}

// A completed async_wait is not proof that the monitor exited. Asio's epoll reactor recycles
// its per-descriptor state objects, and a readiness event fetched for a socket that another
// thread closes meanwhile can be delivered to the state now reused for this pidfd; a wait
// operation, unlike a read, completes on any event without a syscall to check. Seen as 1-2
// "monitor died" of 50 concurrent lifecycles whose log connections churned sockets, after
// which the leftover-cgroup cleanup SIGKILLed the live container. So ask the pidfd itself
// (readable only once the process has exited), and re-arm if not.
void MonitorWatch::woken(const OnExit& on_exit) {
    {
        std::lock_guard lock(mutex_);
        if (closed_ || fired_) return;
        if (!wait_for_exit(descriptor_.native_handle(), 0)) {
            spdlog::debug("container {}: spurious wake-up of the monitor watch", id_);
            arm(on_exit);
            return;
        }
        fired_ = true;
    }
    on_exit(this);
}

void MonitorWatch::close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    boost::system::error_code ec;
    descriptor_.cancel(ec);
    descriptor_.close(ec);
}

Fd MonitorWatch::dup_pidfd() {
    std::lock_guard lock(mutex_);
    if (closed_) return Fd();
    return Fd(fcntl(descriptor_.native_handle(), F_DUPFD_CLOEXEC, 0));
}

void kill_stray_monitor(const std::string& id) {
    std::error_code ec;
    for (const auto& proc : fs::directory_iterator("/proc", ec)) {
        std::string name = proc.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        pid_t pid = std::stoi(name);
        if (!is_monitor_of(pid, id)) continue;
        // The container's first process is a clone of its monitor (the same command line)
        // until it execs. It may sit in a cgroup frozen by a kill_all that a SIGKILL of
        // trumand cut short, where a SIGKILL cannot end it before a thaw, so waiting for it
        // here would hang start-up. It is the cgroup cleanup's (destroy_leftover_cgroup),
        // and it lives in a PID namespace of its own; the monitor lives in ours.
        if (!in_our_pid_namespace(pid)) continue;
        Fd fd = pidfd_open(pid);
        if (!fd || !is_monitor_of(pid, id)) continue;
        syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0);
        wait_for_exit(fd.get(), monitor_exit_timeout_ms);
    }
}

}  // namespace truman::daemon
