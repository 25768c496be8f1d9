#include "seccomp_follower.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <vector>

#include "callbacks.hpp"
#include "truman/daemon/seccomp_log.hpp"

namespace asio = boost::asio;

namespace truman::daemon {

namespace {

class SeccompStream : public std::enable_shared_from_this<SeccompStream> {
  public:
    SeccompStream(asio::io_context& io, const std::string& dir, std::string since,
                  std::optional<size_t> tail, bool follow, std::function<bool()> container_done,
                  std::function<void(const SeccompRecord&)> on_record, std::function<void()> on_end)
        : strand_(asio::make_strand(io)),
          reader_(dir + "/seccomp.log"),
          since_(std::move(since)),
          tail_(tail),
          follow_(follow),
          container_done_(std::move(container_done)),
          on_record_(std::move(on_record)),
          on_end_(std::move(on_end)) {}

    // Watching starts before the first read, so nothing appended in between is missed.
    void begin(DirWatch& watch, const std::string& dir) {
        if (follow_) {
            std::weak_ptr<SeccompStream> weak = weak_from_this();
            watch_ = watch.watch(dir, {"seccomp.log", "state.json"}, [weak] {
                if (auto self = weak.lock()) asio::post(self->strand_, [self] { self->woken(); });
            });
        }
        asio::post(strand_, [self = shared_from_this()] { self->first_batch(); });
    }

    void cancel() {
        cancelled_ = true;
        asio::post(strand_, [self = shared_from_this()] { self->stop_watching(); });
    }

  private:
    void first_batch() {
        if (cancelled_) return;
        started_ = true;
        bool done = !follow_ || container_done_();
        deliver(select_seccomp_records(reader_.read_available(), since_, tail_));
        if (done) finish();
    }

    void woken() {
        if (cancelled_ || !started_ || ended_) return;
        // Asked before reading: the monitor writes every record before it records the exit.
        bool done = container_done_();
        deliver(select_seccomp_records(reader_.read_available(), since_, std::nullopt));
        if (done) finish();
    }

    void deliver(const std::vector<SeccompRecord>& records) {
        for (const auto& record : records) {
            if (cancelled_) return;
            call_safely("seccomp", on_record_, record);
        }
    }

    void finish() {
        ended_ = true;
        stop_watching();
        if (!cancelled_ && on_end_) call_safely("seccomp", on_end_);
    }

    void stop_watching() {
        if (watch_) watch_->cancel();
        watch_.reset();
    }

    asio::strand<asio::io_context::executor_type> strand_;
    SeccompLogReader reader_;
    std::string since_;
    std::optional<size_t> tail_;
    bool follow_;
    std::function<bool()> container_done_;
    std::function<void(const SeccompRecord&)> on_record_;
    std::function<void()> on_end_;
    std::unique_ptr<Subscription> watch_;
    bool started_ = false, ended_ = false;
    std::atomic<bool> cancelled_{false};
};

class SeccompSubscription : public Subscription {
  public:
    explicit SeccompSubscription(std::shared_ptr<SeccompStream> stream)
        : stream_(std::move(stream)) {}
    ~SeccompSubscription() override {
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
    std::shared_ptr<SeccompStream> stream_;
};

}  // namespace

std::unique_ptr<Subscription> follow_seccomp_log(
    asio::io_context& io, DirWatch& watch, const std::string& dir, std::string since,
    std::optional<size_t> tail, bool follow, std::function<bool()> container_done,
    std::function<void(const SeccompRecord&)> on_record, std::function<void()> on_end) {
    auto stream = std::make_shared<SeccompStream>(io, dir, std::move(since), tail, follow,
                                                  std::move(container_done), std::move(on_record),
                                                  std::move(on_end));
    stream->begin(watch, dir);
    return std::make_unique<SeccompSubscription>(stream);
}

}  // namespace truman::daemon
