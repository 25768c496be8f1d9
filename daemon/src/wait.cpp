#include <boost/asio/post.hpp>

#include "callbacks.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

void wait(ContainerRegistry& registry, const std::string& ref, WaitCallback done) {
    auto locked = registry.lock();
    Entry& entry = locked.find(ref);
    if (entry.exit_handled) {
        boost::asio::post(registry.io(), [done, state = entry.stored.state] {
            call_safely("wait", done, nullptr, state);
        });
        return;
    }
    entry.waiters.push_back(std::move(done));
}

}  // namespace truman::daemon::verbs
