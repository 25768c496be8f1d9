// Published ports on the command line: `run -p [HOSTIP:]HOSTPORT:PORT[/udp]` (and ranges,
// Docker's syntax) -> the body's "ports", a container's ports as `ps` and `trumanctl port`
// show them (0.0.0.0:8080->80/tcp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "truman/client/api_client.hpp"

namespace truman::client {

// One -p value -> one element of "ports". Accepted, as Docker does:
//   PORT[/proto]                    a free host port trumand picks
//   HOSTPORT:PORT[/proto]           8080:80, 8000-8010:80-90
//   HOSTIP:HOSTPORT:PORT[/proto]    127.0.0.1:8080:80
//   HOSTIP::PORT[/proto]            a free host port on that address
// Throws std::invalid_argument (a usage error) naming -p; the numbers are trumand's to judge.
nlohmann::json publish_from_flag(const std::string& value);

// "0.0.0.0:8080->80/tcp, 0.0.0.0:9000-9001->80-81/udp" for a container's "ports".
std::string ports_text(const nlohmann::json& ports);

// `trumanctl port CONTAINER`: one line per mapping, "80/tcp -> 0.0.0.0:8080".
int port_command(const ApiClient& api, const std::string& ref);

}  // namespace truman::client
