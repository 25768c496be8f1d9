// Following re-reads container.log on a timer (log_poll_interval); issues 12 and 13 replace
// that with the monitor's pipe.
#include "log_follower.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <vector>

#include "callbacks.hpp"
#include "truman/daemon/container_log.hpp"

namespace asio = boost::asio;

namespace truman::daemon {

namespace {

constexpr auto log_poll_interval = std::chrono::milliseconds(75);

class LogStream : public std::enable_shared_from_this<LogStream> {
  public:
    LogStream(asio::io_context& io, std::string path, LogOptions options,
              std::function<bool()> container_done, std::function<void(const LogLine&)> on_line,
              std::function<void()> on_end)
        : strand_(asio::make_strand(io)),
          timer_(strand_),
          reader_(std::move(path)),
          options_(options),
          container_done_(std::move(container_done)),
          on_line_(std::move(on_line)),
          on_end_(std::move(on_end)) {}

    void begin() {
        asio::post(strand_, [self = shared_from_this()] { self->first_batch(); });
    }

    void cancel() {
        cancelled_ = true;
        asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
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
        timer_.expires_after(log_poll_interval);
        timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) self->tick();
        });
    }

    void deliver(const std::vector<LogLine>& lines) {
        for (const auto& line : lines) {
            if (cancelled_) return;
            call_safely("logs", on_line_, line);
        }
    }

    void finish() {
        if (!cancelled_ && on_end_) call_safely("logs", on_end_);
    }

    asio::strand<asio::io_context::executor_type> strand_;
    asio::steady_timer timer_;
    LogReader reader_;
    LogOptions options_;
    std::function<bool()> container_done_;
    std::function<void(const LogLine&)> on_line_;
    std::function<void()> on_end_;
    std::atomic<bool> cancelled_{false};
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

std::unique_ptr<Subscription> follow_log(asio::io_context& io, std::string log_path,
                                         const LogOptions& options,
                                         std::function<bool()> container_done,
                                         std::function<void(const LogLine&)> on_line,
                                         std::function<void()> on_end) {
    auto stream =
        std::make_shared<LogStream>(io, std::move(log_path), options, std::move(container_done),
                                    std::move(on_line), std::move(on_end));
    stream->begin();
    return std::make_unique<LogSubscription>(stream);
}

}  // namespace truman::daemon
