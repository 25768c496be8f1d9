#include "dir_watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <cerrno>
#include <vector>

#include "callbacks.hpp"
#include "truman/error.hpp"

namespace asio = boost::asio;

namespace truman::daemon {

namespace {

constexpr uint32_t watched_events =
    IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

}  // namespace

struct DirWatch::Watcher {
    Watcher(asio::io_context& io, std::set<std::string> n, std::function<void()> cb)
        : strand(asio::make_strand(io)), names(std::move(n)), callback(std::move(cb)) {}
    asio::strand<asio::io_context::executor_type> strand;
    std::set<std::string> names;
    std::function<void()> callback;
    std::atomic<bool> active{true};
    // A change that arrives while one is queued is covered by it: the callback re-reads.
    std::atomic<bool> queued{false};

    void notify(const std::shared_ptr<Watcher>& self) {
        if (queued.exchange(true)) return;
        asio::post(strand, [self] {
            self->queued = false;
            if (self->active) call_safely("dir watch", self->callback);
        });
    }
};

class DirWatch::WatcherSubscription : public Subscription {
  public:
    WatcherSubscription(std::weak_ptr<DirWatch> hub, std::shared_ptr<Watcher> watcher, int wd,
                        uint64_t key)
        : hub_(std::move(hub)), watcher_(std::move(watcher)), wd_(wd), key_(key) {}
    ~WatcherSubscription() override {
        try {
            cancel();
        } catch (...) {  // the watcher is inactive already; a destructor must not throw
        }
    }
    void cancel() override {
        watcher_->active = false;
        if (auto hub = hub_.lock()) hub->unwatch(wd_, key_);
        hub_.reset();
    }

  private:
    std::weak_ptr<DirWatch> hub_;
    std::shared_ptr<Watcher> watcher_;
    int wd_;
    uint64_t key_;
};

std::shared_ptr<DirWatch> DirWatch::open(asio::io_context& io) {
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw system_error("inotify_init1");
    auto hub = std::make_shared<DirWatch>(io, fd);
    hub->arm();
    return hub;
}

DirWatch::DirWatch(asio::io_context& io, int inotify_fd) : io_(io), descriptor_(io, inotify_fd) {}

std::unique_ptr<Subscription> DirWatch::watch(const std::string& dir, std::set<std::string> names,
                                              std::function<void()> on_change) {
    auto watcher = std::make_shared<Watcher>(io_, std::move(names), std::move(on_change));
    std::lock_guard lock(mutex_);
    if (closed_) throw make_error(ErrorKind::system, "the container service is shutting down");
    // The same directory gives the same descriptor: its watchers share it.
    int wd = inotify_add_watch(descriptor_.native_handle(), dir.c_str(), watched_events);
    if (wd < 0) throw system_error("inotify_add_watch " + dir);
    uint64_t key = next_key_++;
    watchers_[wd][key] = watcher;
    return std::make_unique<WatcherSubscription>(weak_from_this(), watcher, wd, key);
}

void DirWatch::unwatch(int wd, uint64_t key) {
    std::lock_guard lock(mutex_);
    auto it = watchers_.find(wd);
    if (it == watchers_.end()) return;
    it->second.erase(key);
    if (!it->second.empty()) return;
    watchers_.erase(it);
    if (!closed_) inotify_rm_watch(descriptor_.native_handle(), wd);
}

void DirWatch::close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (auto& [wd, watchers] : watchers_)
        for (auto& [key, watcher] : watchers) watcher->active = false;
    watchers_.clear();
    boost::system::error_code ec;
    descriptor_.cancel(ec);
}

// A read, not async_wait: asio registers descriptors edge-triggered and starts a read with an
// attempt, so a change that lands between two reads is never left waiting for the next one.
void DirWatch::arm() {
    descriptor_.async_read_some(
        asio::buffer(buffer_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
            if (!ec) self->woken(n);
        });
}

void DirWatch::woken(size_t n) {
    std::vector<std::shared_ptr<Watcher>> to_notify;
    {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        // inotify returns whole events only.
        for (size_t at = 0; at + sizeof(inotify_event) <= n;) {
            const auto* ev = reinterpret_cast<const inotify_event*>(buffer_.data() + at);
            at += sizeof(inotify_event) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {  // changes were lost: everyone re-reads
                for (auto& [wd, watchers] : watchers_)
                    for (auto& [key, watcher] : watchers) to_notify.push_back(watcher);
                continue;
            }
            auto it = watchers_.find(ev->wd);
            if (it == watchers_.end()) continue;
            // The directory itself went away: tell everyone watching it.
            bool everyone = (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0;
            std::string name = ev->len ? std::string(ev->name) : std::string();
            for (auto& [key, watcher] : it->second)
                if (everyone || watcher->names.count(name)) to_notify.push_back(watcher);
            if (ev->mask & IN_IGNORED) watchers_.erase(it);  // the kernel dropped the wd
        }
    }
    for (auto& watcher : to_notify) watcher->notify(watcher);
    arm();
}

}  // namespace truman::daemon
