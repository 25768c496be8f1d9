// Following is pushed, not polled: an inotify watch on the container's directory wakes the
// stream whenever the monitor appends to container.log (or rotates it), and the registry
// wakes it once the container's exit is handled. Each wake-up reads what is new.
#include "log_follower.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <cerrno>
#include <vector>

#include "callbacks.hpp"
#include "truman/daemon/container_log.hpp"
#include "truman/error.hpp"

namespace asio = boost::asio;

namespace truman::daemon {

namespace {

// A watch of path's directory: modifications, creations and renames of its files (the log
// and its rotation; state.json and the monitor's own log wake us too, harmlessly).
int watch_directory_of(const std::string& path) {
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw system_error("inotify_init1");
    std::string dir = path.substr(0, path.rfind('/'));
    if (inotify_add_watch(fd, dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
        int err = errno;
        ::close(fd);
        throw system_error("inotify_add_watch " + dir, err);
    }
    return fd;
}

class LogStream : public std::enable_shared_from_this<LogStream> {
  public:
    LogStream(asio::io_context& io, std::string path, LogOptions options,
              std::function<bool()> container_done, std::function<void(const LogLine&)> on_line,
              std::function<void()> on_end)
        : strand_(asio::make_strand(io)),
          watch_(strand_),
          path_(std::move(path)),
          reader_(path_),
          options_(options),
          container_done_(std::move(container_done)),
          on_line_(std::move(on_line)),
          on_end_(std::move(on_end)) {}

    // Watching starts before the first read, so nothing appended in between is missed.
    void begin() {
        if (options_.follow) watch_.assign(watch_directory_of(path_));
        asio::post(strand_, [self = shared_from_this()] { self->first_batch(); });
    }

    // The container's exit was handled: what it wrote is all on disk.
    void wake() {
        asio::post(strand_, [self = shared_from_this()] {
            if (!self->finished_) self->tick();
        });
    }

    void cancel() {
        cancelled_ = true;
        asio::post(strand_, [self = shared_from_this()] {
            boost::system::error_code ec;
            self->watch_.close(ec);
        });
    }

  private:
    void first_batch() {
        if (cancelled_) return;
        bool done = !options_.follow || container_done_();
        deliver(filter_log_lines(reader_.read_available(), options_));
        if (done) return finish();
        schedule();
    }

    void tick() {
        if (cancelled_) return;
        // Checked before reading: the monitor writes every log line before it exits.
        bool done = container_done_();
        std::vector<LogLine> lines;
        for (auto& line : reader_.read_available())
            if (wants_stream(options_, line.stream)) lines.push_back(std::move(line));
        deliver(lines);
        if (done) return finish();
        schedule();
    }

    void schedule() {
        if (armed_ || !watch_.is_open()) return;
        armed_ = true;
        watch_.async_wait(asio::posix::stream_descriptor::wait_read,
                          [self = shared_from_this()](boost::system::error_code ec) {
                              self->armed_ = false;
                              if (ec || self->finished_) return;
                              self->drain_events();
                              self->tick();
                          });
    }

    // The events only say "something changed"; what changed is read from the log itself.
    void drain_events() {
        alignas(inotify_event) char buf[4096];
        while (::read(watch_.native_handle(), buf, sizeof buf) > 0) {
        }
    }

    void deliver(const std::vector<LogLine>& lines) {
        for (const auto& line : lines) {
            if (cancelled_) return;
            call_safely("logs", on_line_, line);
        }
    }

    void finish() {
        if (finished_) return;
        finished_ = true;
        boost::system::error_code ec;
        watch_.close(ec);
        if (!cancelled_ && on_end_) call_safely("logs", on_end_);
    }

    asio::strand<asio::io_context::executor_type> strand_;
    asio::posix::stream_descriptor watch_;  // the inotify fd, when following
    std::string path_;
    LogReader reader_;
    LogOptions options_;
    std::function<bool()> container_done_;
    std::function<void(const LogLine&)> on_line_;
    std::function<void()> on_end_;
    std::atomic<bool> cancelled_{false};
    bool armed_ = false;     // on the strand only
    bool finished_ = false;  // on the strand only
};

class LogSubscription : public Subscription {
  public:
    explicit LogSubscription(std::shared_ptr<LogStream> stream) : stream_(std::move(stream)) {}
    ~LogSubscription() override {
        try {
            cancel();
        } catch (...) {  // a destructor must not throw; the stream ends with the io_context
        }
    }
    void cancel() override {
        if (stream_) stream_->cancel();
        stream_.reset();
    }

  private:
    std::shared_ptr<LogStream> stream_;
};

}  // namespace

std::unique_ptr<Subscription> follow_log(
    asio::io_context& io, std::string log_path, const LogOptions& options,
    std::function<bool()> container_done,
    const std::function<void(std::function<void()>)>& on_container_exit,
    std::function<void(const LogLine&)> on_line, std::function<void()> on_end) {
    auto stream =
        std::make_shared<LogStream>(io, std::move(log_path), options, std::move(container_done),
                                    std::move(on_line), std::move(on_end));
    stream->begin();
    if (options.follow)
        on_container_exit([weak = std::weak_ptr<LogStream>(stream)] {
            if (auto s = weak.lock()) s->wake();
        });
    return std::make_unique<LogSubscription>(stream);
}

}  // namespace truman::daemon
