// The JSON of published ports, one form for both places that write it: the API's inspect
// (api/src/network_mapping.cpp) and the network records on disk (network_store.cpp), so the
// two cannot drift.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "truman/daemon/network_service.hpp"

namespace truman::daemon {

// [{"host_ip", "host_port", "host_port_end", "container_port", "container_port_end", "proto"}]
nlohmann::json port_mappings_to_json(const std::vector<PortMapping>& ports);

}  // namespace truman::daemon
