#include <spdlog/spdlog.h>

#include "seccomp_follower.hpp"
#include "truman/daemon/seccomp_log.hpp"
#include "truman/error.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

std::unique_ptr<Subscription> seccomp(ContainerRegistry& registry, const std::string& ref,
                                      const SeccompOptions& options,
                                      std::function<void(const SeccompRecord&)> on_record,
                                      std::function<void()> on_end) {
    std::string since = seccomp_since(options);
    std::string id = registry.lock().find(ref).meta.id;
    ContainerPaths paths = registry.paths_of(id);
    // From disk, not from the registry: the monitor records the exit after its last denial,
    // and state.json's replacement is what wakes a follower.
    auto done = [paths] {
        try {
            return read_state(paths).state.status == Status::exited;
        } catch (const Error& e) {
            if (e.code().value() != ENOENT) spdlog::warn("seccomp follower: {}", e.what());
            return true;  // removed (or unreadable: nothing more will come)
        }
    };
    return follow_seccomp_log(registry.io(), registry.dir_watch(), paths.dir(), std::move(since),
                              options.tail, options.follow, std::move(done), std::move(on_record),
                              std::move(on_end));
}

}  // namespace truman::daemon::verbs
