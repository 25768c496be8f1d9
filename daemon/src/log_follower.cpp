// Following is pushed, not polled: the service's DirWatch on the container's directory wakes
// the stream whenever the monitor appends to container.log (or rotates it), and the registry
// wakes it once the container's exit is handled. Each wake-up reads what is new.
#include "log_follower.hpp"

#include <vector>

#include "file_follower.hpp"
#include "truman/daemon/container_log.hpp"

namespace asio = boost::asio;

namespace truman::daemon {

std::unique_ptr<Subscription> follow_log(
    asio::io_context& io, DirWatch& watch, const std::string& log_path, const LogOptions& options,
    std::function<bool()> container_done,
    const std::function<void(std::function<void()>)>& on_container_exit,
    std::function<void(const LogLine&)> on_line, std::function<void()> on_end) {
    auto reader = std::make_shared<LogReader>(log_path);
    FollowCallbacks<LogLine> callbacks;
    callbacks.first_batch = [reader, options] {
        return filter_log_lines(reader->read_available(), options);
    };
    callbacks.next_batch = [reader, options] {
        std::vector<LogLine> lines;
        for (auto& line : reader->read_available())
            if (wants_stream(options, line.stream)) lines.push_back(std::move(line));
        return lines;
    };
    callbacks.container_done = std::move(container_done);
    callbacks.on_record = std::move(on_line);
    callbacks.on_end = std::move(on_end);
    auto follower =
        std::make_shared<FileFollower<LogLine>>(io, "logs", options.follow, std::move(callbacks));
    size_t slash = log_path.rfind('/');
    follower->begin(watch, log_path.substr(0, slash), {log_path.substr(slash + 1)});
    if (options.follow)
        on_container_exit([weak = std::weak_ptr<FileFollower<LogLine>>(follower)] {
            if (auto f = weak.lock()) f->wake();
        });
    return std::make_unique<FollowerSubscription<LogLine>>(follower);
}

}  // namespace truman::daemon
