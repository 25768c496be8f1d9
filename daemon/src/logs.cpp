#include <exception>

#include "log_follower.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

std::unique_ptr<Subscription> logs(ContainerRegistry& registry, const std::string& ref,
                                   const LogOptions& options,
                                   std::function<void(const LogLine&)> on_line,
                                   std::function<void()> on_end) {
    std::string id = registry.lock().find(ref).meta.id;
    auto done = [registry = registry.weak_from_this(), id] {
        auto alive = registry.lock();
        return !alive || alive->exited(id);
    };
    // The exit is handled (and every line on disk) when the container's waiters run.
    auto on_exit = [&registry, id](const std::function<void()>& wake) {
        {
            auto locked = registry.lock();
            Entry* entry = locked.find_id(id);
            if (entry && !entry->exit_handled) {
                entry->waiters.push_back(
                    [wake](const std::exception_ptr&, const ContainerState&) { wake(); });
                return;
            }
        }
        wake();
    };
    return follow_log(registry.io(), registry.dir_watch(), registry.paths_of(id).log(), options,
                      std::move(done), on_exit, std::move(on_line), std::move(on_end));
}

}  // namespace truman::daemon::verbs
