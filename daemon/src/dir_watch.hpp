// One inotify instance for the whole service, shared by everything that waits for a file in a
// container's directory to change (seccomp.log followers, the seccomp event publisher): the
// kernel's default of 128 inotify instances per user would otherwise cap the containers.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "truman/daemon/subscription.hpp"

namespace truman::daemon {

class DirWatch : public std::enable_shared_from_this<DirWatch> {
  public:
    // Throws truman::Error if the kernel gives no inotify instance.
    static std::shared_ptr<DirWatch> open(boost::asio::io_context& io);

    // Calls on_change (on the io_context, never two at once for one watcher) whenever an entry
    // of dir named in names is created, renamed into place or written to, and once more when
    // dir itself is deleted. on_change re-reads what it cares about: calls may be coalesced.
    // Throws truman::Error naming dir (it does not exist, or the kernel's watch limit).
    std::unique_ptr<Subscription> watch(const std::string& dir, std::set<std::string> names,
                                        std::function<void()> on_change);
    // No watcher hears anything more (the service is going away).
    void close();

    DirWatch(boost::asio::io_context& io, int inotify_fd);

  private:
    struct Watcher;
    class WatcherSubscription;

    void arm();
    void woken(size_t n);
    void unwatch(int wd, uint64_t key);

    boost::asio::io_context& io_;
    std::mutex mutex_;
    boost::asio::posix::stream_descriptor descriptor_;
    alignas(alignof(std::max_align_t)) std::array<char, 16384> buffer_{};   // one read's events
    std::map<int, std::map<uint64_t, std::shared_ptr<Watcher>>> watchers_;  // by wd, then key
    uint64_t next_key_ = 0;
    bool closed_ = false;
};

}  // namespace truman::daemon
