#include "event_bus.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "callbacks.hpp"

namespace asio = boost::asio;

namespace truman::daemon {

struct EventBus::Sink {
    Sink(asio::io_context& io, std::function<void(const Event&)> cb)
        : strand(asio::make_strand(io)), callback(std::move(cb)) {}
    asio::strand<asio::io_context::executor_type> strand;
    std::function<void(const Event&)> callback;
    std::atomic<bool> active{true};
};

class EventBus::EventSubscription : public Subscription {
  public:
    EventSubscription(std::weak_ptr<EventBus> bus, std::shared_ptr<Sink> sink, uint64_t key)
        : bus_(std::move(bus)), sink_(std::move(sink)), key_(key) {}
    ~EventSubscription() override {
        try {
            cancel();
        } catch (...) {  // the sink is inactive already; a destructor must not throw
        }
    }
    void cancel() override {
        sink_->active = false;
        if (auto bus = bus_.lock()) {
            std::lock_guard lock(bus->mutex_);
            bus->sinks_.erase(key_);
        }
    }

  private:
    std::weak_ptr<EventBus> bus_;
    std::shared_ptr<Sink> sink_;
    uint64_t key_;
};

std::unique_ptr<Subscription> EventBus::subscribe(std::function<void(const Event&)> on_event) {
    auto sink = std::make_shared<Sink>(io_, std::move(on_event));
    uint64_t key;
    {
        std::lock_guard lock(mutex_);
        key = next_key_++;
        sinks_[key] = sink;
    }
    return std::make_unique<EventSubscription>(weak_from_this(), sink, key);
}

void EventBus::publish(const Event& event) {
    std::lock_guard lock(mutex_);
    for (const auto& [key, sink] : sinks_) {
        asio::post(sink->strand, [sink = sink, event] {
            if (sink->active) call_safely("events", sink->callback, event);
        });
    }
}

void EventBus::close() {
    std::lock_guard lock(mutex_);
    for (auto& [key, sink] : sinks_) sink->active = false;
    sinks_.clear();
}

}  // namespace truman::daemon
