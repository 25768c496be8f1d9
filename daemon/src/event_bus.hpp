// The service's events (create, start, kill, oom, die, destroy) to every subscriber.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "truman/daemon/service.hpp"

namespace truman::daemon {

class EventBus : public std::enable_shared_from_this<EventBus> {
  public:
    explicit EventBus(boost::asio::io_context& io) : io_(io) {}

    // on_event runs on the io_context, on a strand of the subscriber's own: its events arrive
    // one at a time, in publish order.
    std::unique_ptr<Subscription> subscribe(std::function<void(const Event&)> on_event);
    // Publishers order their events among themselves (the registry publishes under its lock).
    void publish(const Event& event);
    // No subscriber hears anything more, not even what is queued (the service is going away).
    void close();

  private:
    struct Sink;
    class EventSubscription;

    boost::asio::io_context& io_;
    std::mutex mutex_;
    std::map<uint64_t, std::shared_ptr<Sink>> sinks_;
    uint64_t next_key_ = 0;
};

}  // namespace truman::daemon
