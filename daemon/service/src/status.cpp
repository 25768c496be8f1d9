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

std::optional<Status> status_from_string(const std::string& name) {
    for (Status status : {Status::created, Status::running, Status::exited})
        if (name == to_string(status)) return status;
    return std::nullopt;
}

}  // namespace truman::daemon
