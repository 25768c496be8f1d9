#include <signal.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "callbacks.hpp"
#include "truman/daemon/monitor_protocol.hpp"
#include "truman/error.hpp"
#include "truman/signal_names.hpp"
#include "verbs.hpp"

namespace asio = boost::asio;

namespace truman::daemon::verbs {

void stop(ContainerRegistry& registry, const std::string& ref, std::chrono::seconds timeout,
          int signal, const std::function<void(std::exception_ptr)>& done) {
    if (signal != 0 && !is_signal_number(signal))
        throw invalid_argument("signal", unknown_signal_reason(std::to_string(signal)));
    std::string id;
    ContainerMeta meta;
    auto timer = std::make_shared<asio::steady_timer>(registry.io());
    {
        auto locked = registry.lock();
        Entry& entry = locked.find(ref);
        if (entry.stored.state.status != Status::running) {
            asio::post(registry.io(), [done] { call_safely("stop", done, nullptr); });
            return;
        }
        id = entry.meta.id;
        meta = entry.meta;
        if (signal == 0) signal = meta.stop_signal != 0 ? meta.stop_signal : SIGTERM;
        entry.waiters.push_back(
            [timer, done](const std::exception_ptr& error, const ContainerState&) {
                timer->cancel();
                call_safely("stop", done, error);
            });
        locked.publish("kill", meta);
    }
    std::string socket = registry.socket_of(id);
    try {
        send_monitor_command(socket, {ControlCommand::Verb::kill, signal});
    } catch (const Error& e) {
        // Most likely it exited meanwhile: the waiter completes then. If not, SIGKILL after
        // the timeout still applies.
        spdlog::warn("stop {}: signal {}: {}", id, signal, e.what());
    }
    timer->expires_after(timeout);
    timer->async_wait(
        [registry = registry.shared_from_this(), id, socket, meta](boost::system::error_code ec) {
            if (ec) return;
            {
                auto locked = registry->lock();
                Entry* entry = locked.find_id(id);
                if (!entry || entry->exit_handled) return;
                locked.publish("kill", meta);
            }
            try {
                send_monitor_command(socket, {ControlCommand::Verb::kill, SIGKILL});
            } catch (const Error& e) {
                spdlog::warn("stop {}: SIGKILL: {}", id, e.what());
            }
        });
}

}  // namespace truman::daemon::verbs
