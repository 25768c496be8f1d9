// `trumanctl create/run` flags -> the JSON body of POST /v1/containers (the API's field names,
// see api/src/mapping.cpp and openapi.yaml). Only fields the API accepts are ever sent.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "truman/client/api_client.hpp"

namespace truman::client {

struct CreateOptions {
    std::string name;
    std::string hostname;
    std::vector<std::string> env;  // KEY=value, or KEY to copy it from our environment
    std::string workdir;
    std::string user;    // uid[:gid]
    std::string memory;  // "128m"
    std::optional<int64_t> pids_limit;
    std::string cpus;                  // "1.5"
    std::optional<int64_t> cpu_quota;  // microseconds per 100 ms period
    bool read_only = false;
    std::vector<std::string> cap_add, cap_drop;
    std::string network;                     // none | loopback | veth
    std::string ip, gateway;                 // with --network veth
    std::string ip6;                         // a named dual stack network's IPv6 address
    std::vector<std::string> security_opts;  // seccomp=unconfined|default|FILE, no-new-privileges
    std::string rootfs;
    std::vector<std::string> publish;  // -p [HOSTIP:]HOSTPORT:PORT[/udp] (port_commands.hpp)
    // Names: --network-alias (with a named --network), --dns, --add-host NAME:IP.
    std::vector<std::string> network_aliases, dns, add_hosts;
    std::vector<std::string> args;  // IMAGE CMD... (or CMD... with --rootfs)
    bool interactive = false;       // -i: open_stdin + stdin_once, and run attaches to it
    bool tty = false;               // -t
};

// Throws std::invalid_argument (a usage error: nothing was sent) naming the flag. Only the
// flags' own syntax is checked here ("128m", "1.5" CPUs); the values are judged by trumand,
// with the same rules as every other caller's, and in_flag_terms() names its errors.
nlohmann::json create_body(const CreateOptions& options);

// The flag behind a body field, for trumand's errors about it: "resources.memory" ->
// "--memory", "cap_add[0]" -> "--cap-add". "" for a field no flag sets.
std::string flag_for_field(const CreateOptions& options, const std::string& api_field);

// e renamed by flag_for_field() ("--memory: must be a positive number of bytes, ..."), or e
// as sent when its field came from no flag.
ApiError in_flag_terms(const ApiError& e, const CreateOptions& options);

}  // namespace truman::client
