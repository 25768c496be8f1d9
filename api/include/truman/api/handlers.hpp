// The v1 endpoints: each handler turns a request into one service call and its result into
// JSON. They know nothing of sockets (see http.hpp) and nothing of containers beyond the
// service interface.
#pragma once

#include <functional>
#include <string>

#include "truman/api/router.hpp"
#include "truman/daemon/service.hpp"

namespace truman::api {

inline constexpr const char* kApiVersion = "1";

struct ApiOptions {
    std::string version = "0.0.0";  // trumand's version, reported by /v1/version
    // Runs a service call that blocks (create, start, kill and delete wait for the container's
    // monitor to answer) away from the threads serving connections, so that a burst of
    // creates never delays a ping or an inspect. Empty: the call runs in place.
    std::function<void(std::function<void()>)> run_blocking;
};

// Registers every /v1 route on router. service must outlive the router.
void add_v1_routes(Router& router, daemon::ContainerService& service, ApiOptions options = {});

}  // namespace truman::api
