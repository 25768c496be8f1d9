// The follow loop that the container log and the seccomp log streams share: deliver what is on
// disk, then, on every wake-up, what the monitor appended since, until the container is done.
// Wake-ups are pushed (the service's DirWatch on the container's directory, and whatever else
// the owner calls wake() from), never a timer.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "callbacks.hpp"
#include "dir_watch.hpp"
#include "truman/daemon/subscription.hpp"

namespace truman::daemon {

template <typename Record>
struct FollowCallbacks {
    std::function<std::vector<Record>()> first_batch;  // what is on disk now, as selected
    std::function<std::vector<Record>()> next_batch;   // what was appended since the last read
    // Asked before each read: true once nothing more will be appended (the monitor writes
    // every record before it records the exit).
    std::function<bool()> container_done;
    std::function<void(const Record&)> on_record;
    std::function<void()> on_end;  // after the last record (may be empty)
};

template <typename Record>
class FileFollower : public std::enable_shared_from_this<FileFollower<Record>> {
  public:
    FileFollower(boost::asio::io_context& io, const char* what, bool follow,
                 FollowCallbacks<Record> callbacks)
        : strand_(boost::asio::make_strand(io)),
          what_(what),
          follow_(follow),
          cb_(std::move(callbacks)) {}

    // When following, names in dir are watched before the first read, so nothing appended in
    // between is missed.
    void begin(DirWatch& watch, const std::string& dir, const std::set<std::string>& names) {
        if (follow_) {
            std::weak_ptr<FileFollower> weak = this->weak_from_this();
            watch_ = watch.watch(dir, names, [weak] {
                if (auto self = weak.lock()) self->wake();
            });
        }
        boost::asio::post(strand_, [self = this->shared_from_this()] { self->read(true); });
    }

    // Something may have been appended, or the container may be done. Any thread.
    void wake() {
        boost::asio::post(strand_, [self = this->shared_from_this()] {
            if (self->started_) self->read(false);
        });
    }

    void cancel() {
        cancelled_ = true;
        boost::asio::post(strand_, [self = this->shared_from_this()] { self->stop_watching(); });
    }

  private:
    void read(bool first) {
        if (cancelled_ || ended_) return;
        started_ = true;
        bool done = !follow_ || call_done();
        for (const auto& record : first ? cb_.first_batch() : cb_.next_batch()) {
            if (cancelled_) return;
            call_safely(what_, cb_.on_record, record);
        }
        if (done) finish();
    }

    bool call_done() {
        try {
            return cb_.container_done();
        } catch (const std::exception& e) {
            spdlog::error("{} follower: {}", what_, e.what());
            return true;
        }
    }

    void finish() {
        ended_ = true;
        stop_watching();
        if (!cancelled_ && cb_.on_end) call_safely(what_, cb_.on_end);
    }

    void stop_watching() {
        if (watch_) watch_->cancel();
        watch_.reset();
    }

    boost::asio::strand<boost::asio::io_context::executor_type> strand_;
    const char* what_;
    bool follow_;
    FollowCallbacks<Record> cb_;
    std::unique_ptr<Subscription> watch_;   // on the strand only (after begin)
    bool started_ = false, ended_ = false;  // on the strand only
    std::atomic<bool> cancelled_{false};
};

// The caller's handle: cancelling (or dropping) it ends the deliveries.
template <typename Record>
class FollowerSubscription : public Subscription {
  public:
    explicit FollowerSubscription(std::shared_ptr<FileFollower<Record>> follower)
        : follower_(std::move(follower)) {}
    ~FollowerSubscription() override {
        try {
            cancel();
        } catch (...) {  // a destructor must not throw; the follower ends with the io_context
        }
    }
    void cancel() override {
        if (follower_) follower_->cancel();
        follower_.reset();
    }

  private:
    std::shared_ptr<FileFollower<Record>> follower_;
};

}  // namespace truman::daemon
