#include "seccomp_events.hpp"

#include "truman/daemon/time_format.hpp"

namespace truman::daemon {

namespace {

bool older_than_a_second(const timespec& then, const timespec& now) {
    if (now.tv_sec - then.tv_sec > 1) return true;
    if (now.tv_sec - then.tv_sec < 1) return false;
    return now.tv_nsec >= then.tv_nsec;
}

}  // namespace

std::optional<uint64_t> SeccompRateLimit::admit(const timespec& when) {
    if (limit_ == 0) return std::nullopt;
    if (admitted_.size() == limit_ && !older_than_a_second(admitted_.front(), when)) {
        ++suppressed_;
        return std::nullopt;
    }
    if (admitted_.size() == limit_) admitted_.pop_front();
    admitted_.push_back(when);
    uint64_t held_back = suppressed_;
    suppressed_ = 0;
    return held_back;
}

SeccompEvents::SeccompEvents(const std::string& log_path) : reader_(log_path) {
    reader_.read_available();
}

std::vector<Event> SeccompEvents::take(const std::string& id, const std::string& name) {
    std::lock_guard lock(mutex_);
    std::vector<Event> out;
    for (const auto& record : reader_.read_available()) {
        if (record.dropped > 0) continue;  // a note about the log, not a denial
        auto when = parse_client_time(record.time);
        if (!when) continue;
        auto held_back = limit_.admit(*when);
        if (!held_back) continue;
        Event event;
        event.time = record.time;
        event.type = "seccomp";
        event.id = id;
        event.name = name;
        event.syscall = record.syscall;
        event.pid = record.pid;
        event.error = record.error;
        event.suppressed = *held_back;
        out.push_back(std::move(event));
    }
    return out;
}

}  // namespace truman::daemon
