#include "seccomp_follower.hpp"

#include <vector>

#include "file_follower.hpp"
#include "truman/daemon/seccomp_log.hpp"

namespace asio = boost::asio;

namespace truman::daemon {

std::unique_ptr<Subscription> follow_seccomp_log(
    asio::io_context& io, DirWatch& watch, const std::string& dir, std::string since,
    std::optional<size_t> tail, bool follow, std::function<bool()> container_done,
    std::function<void(const SeccompRecord&)> on_record, std::function<void()> on_end) {
    auto reader = std::make_shared<SeccompLogReader>(dir + "/seccomp.log");
    FollowCallbacks<SeccompRecord> callbacks;
    callbacks.first_batch = [reader, since, tail] {
        return select_seccomp_records(reader->read_available(), since, tail);
    };
    callbacks.next_batch = [reader, since = std::move(since)] {
        return select_seccomp_records(reader->read_available(), since, std::nullopt);
    };
    callbacks.container_done = std::move(container_done);
    callbacks.on_record = std::move(on_record);
    callbacks.on_end = std::move(on_end);
    auto follower =
        std::make_shared<FileFollower<SeccompRecord>>(io, "seccomp", follow, std::move(callbacks));
    // state.json too: the monitor's "exited" there is what ends a follower.
    follower->begin(watch, dir, {"seccomp.log", "state.json"});
    return std::make_unique<FollowerSubscription<SeccompRecord>>(follower);
}

}  // namespace truman::daemon
