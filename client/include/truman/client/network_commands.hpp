// trumanctl network create|ls|inspect|rm: the /v1/networks calls, one function per verb,
// like commands.hpp (errors propagate to main as ApiError / ConnectionError).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "truman/client/api_client.hpp"

namespace truman::client {

struct NetworkCreateOptions {
    std::string name, subnet, gateway, bridge;
    bool internal = false;
    bool ipv6 = false;                // dual stack: a /64 from trumand's IPv6 pool
    std::string subnet6, gateway6;    // or this IPv6 subnet
    std::vector<std::string> labels;  // KEY=VALUE
};

// POST /v1/networks's body; std::invalid_argument for a label that is not KEY=VALUE.
nlohmann::json network_create_body(const NetworkCreateOptions& options);

int network_create_command(const ApiClient& api, const NetworkCreateOptions& options);
int network_ls_command(const ApiClient& api, bool quiet, bool json);
int network_inspect_command(const ApiClient& api, const std::vector<std::string>& names);
int network_rm_command(const ApiClient& api, const std::vector<std::string>& names);

// trumanctl network connect [--ip A] [--ip6 A] [--alias N] NETWORK CONTAINER; disconnect
// NETWORK CONTAINER.
struct NetworkConnectOptions {
    std::string network, container, ip, ip6;
    std::vector<std::string> aliases;
};
int network_connect_command(const ApiClient& api, const NetworkConnectOptions& options);
int network_disconnect_command(const ApiClient& api, const NetworkConnectOptions& options);

// The `network ls` table for a GET /v1/networks answer (unit tested).
std::string network_table(const nlohmann::json& networks);

}  // namespace truman::client
