#include "truman/daemon/port_mapping_json.hpp"

namespace truman::daemon {

nlohmann::json port_mappings_to_json(const std::vector<PortMapping>& ports) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : ports)
        out.push_back({{"host_ip", p.host_ip},
                       {"host_port", p.host_port},
                       {"host_port_end", p.host_port_end},
                       {"container_port", p.container_port},
                       {"container_port_end", p.container_port_end},
                       {"proto", p.proto}});
    return out;
}

}  // namespace truman::daemon
