// ContainerService::seccomp_profile for a front-end's service that keeps no learned profiles (a
// test double): it refuses, so adding the call did not oblige every implementation at once.

#include "truman/daemon/service.hpp"
#include "truman/error.hpp"

namespace truman::daemon {

Seccomp ContainerService::seccomp_profile(const std::string&) {
    throw make_error(ErrorKind::unsupported, "this service does not learn seccomp profiles");
}

}  // namespace truman::daemon
