#include "truman/daemon/service.hpp"

namespace truman::daemon {

const char* to_string(Status status) noexcept {
    switch (status) {
        case Status::created:
            return "created";
        case Status::running:
            return "running";
        case Status::exited:
            return "exited";
    }
    return "exited";
}

std::optional<Status> status_from_string(const std::string& s) {
    if (s == "created") return Status::created;
    if (s == "running") return Status::running;
    if (s == "exited") return Status::exited;
    return std::nullopt;
}

}  // namespace truman::daemon
