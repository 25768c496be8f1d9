// The upgraded endpoints: POST /v1/containers/{id}/attach, and POST /v1/exec/{id}/start when
// the request asks for the upgrade. After "101 UPGRADED" the connection carries Docker's
// stream frames (stream_frame.hpp) from the process, and raw bytes to its stdin.
#pragma once

#include <memory>

#include "truman/api/handlers.hpp"

namespace truman::api {

void add_attach_routes(Router& router, daemon::ContainerService& service,
                       const ApiOptions& options);

// POST /v1/exec/{id}/start with Connection: Upgrade (handlers.cpp sends it here).
void start_exec_upgraded(daemon::ContainerService& service, const ApiOptions& options,
                         Request& request, const std::shared_ptr<Responder>& responder);

}  // namespace truman::api
