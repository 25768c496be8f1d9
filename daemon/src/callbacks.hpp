// Running a caller's callback from the service's io_context.
#pragma once

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace truman::daemon {

// A caller's callback runs on the io_context: an exception from it must not unwind through
// io_context::run() and take the daemon's io thread down with it.
template <typename Fn, typename... Args>
void call_safely(const char* what, const Fn& fn, Args&&... args) {
    try {
        fn(std::forward<Args>(args)...);
    } catch (const std::exception& e) {
        spdlog::error("{} callback threw: {}", what, e.what());
    } catch (...) {
        spdlog::error("{} callback threw", what);
    }
}

}  // namespace truman::daemon
