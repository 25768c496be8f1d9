// Each seccomp denial of a live container as an event ("seccomp") on the service's event bus,
// at most max_per_second per container: a container looping on a denied call cannot flood
// the subscribers. What was held back is counted in the next event that goes out.
#pragma once

#include <time.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "truman/daemon/seccomp_log.hpp"
#include "truman/daemon/service.hpp"
#include "truman/daemon/subscription.hpp"

namespace truman::daemon {

constexpr size_t seccomp_events_per_second = 10;

// At most `limit` admitted in any window of one second (by the denials' own times, so that
// a batch read late is judged as it happened).
class SeccompRateLimit {
  public:
    explicit SeccompRateLimit(size_t limit = seccomp_events_per_second) : limit_(limit) {}
    // nullopt: held back. Else admitted, with how many were held back since the last one.
    std::optional<uint64_t> admit(const timespec& when);

  private:
    size_t limit_;
    std::deque<timespec> admitted_;  // the last `limit` admitted times
    uint64_t suppressed_ = 0;
};

// The seccomp.log of one container, read from where it stood when this was made (history is
// not replayed after a restart: events are news), turned into rate-limited events.
class SeccompEvents {
  public:
    explicit SeccompEvents(const std::string& log_path);
    // The events for what the monitor appended since the last call, in order.
    std::vector<Event> take(const std::string& id, const std::string& name);
    // Holds the DirWatch subscription that wakes its owner.
    std::unique_ptr<Subscription> watch;

  private:
    std::mutex mutex_;
    SeccompLogReader reader_;
    SeccompRateLimit limit_;
};

}  // namespace truman::daemon
