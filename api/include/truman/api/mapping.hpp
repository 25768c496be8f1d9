// JSON <-> the service's types. The create body is the API's own shape (documented in
// openapi.yaml): flat, Docker-like names, mapped onto truman::default_spec(). The mapping only
// reads (every type error and every unknown field names the body's field); the values are
// judged once, by the service's truman::validate(), whose errors name OCI fields and are
// renamed to the body's fields by in_api_terms().
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "truman/daemon/service.hpp"
#include "truman/error.hpp"
#include "truman/json_reader.hpp"

namespace truman::api {

// Throws truman::Error (invalid / unsupported) naming the field: "cmd[1]: must be a string",
// "resources.memory: must be an integer", "bogus: unknown field".
daemon::CreateRequest create_request_from_json(const nlohmann::json& body);

// The create body's name for an OCI spec field, indices kept: "linux.resources.memory.limit"
// -> "resources.memory", "linux.devices[2].fileMode" -> "devices[2].file_mode". nullopt for a
// field the body has no name for.
std::optional<std::string> api_field(const std::string& oci_field);

// e with its field renamed by api_field(); unchanged when it names no OCI field the body has
// (the service's own "name" or "rootfs", or an error about no field at all).
Error in_api_terms(const Error& e);

nlohmann::json to_json(const daemon::ContainerInfo& info);
nlohmann::json to_json(const daemon::ContainerState& state);
nlohmann::json to_json(const daemon::Event& event);
nlohmann::json to_json(const daemon::DaemonInfo& info);
nlohmann::json to_json(const daemon::LogLine& line);
nlohmann::json to_json(const daemon::SeccompRecord& record);
nlohmann::json to_json(const daemon::ImageInfo& image);
nlohmann::json to_json(const daemon::PullProgressEvent& event);

// "KILL", "SIGKILL", "sigkill", "9" -> 9. Throws truman::Error (invalid) naming "signal".
int parse_signal(const std::string& text);

// Query-string values. Throw truman::Error (invalid) naming the parameter.
bool parse_bool_param(const std::string& name, const std::string& value);
long long parse_int_param(const std::string& name, const std::string& value, long long min,
                          long long max);

// The exec create body: {"cmd": [...], "env": [...], "cwd": "/", "user": "uid:gid", "tty":
// false}, and the start body {"detach": bool} (an empty body: not detached).
daemon::ExecRequest exec_request_from_json(const nlohmann::json& body);
bool exec_detach_from_json(const nlohmann::json& body);
nlohmann::json to_json(const daemon::ExecInfo& info);
// Networks (network_mapping.cpp). Throw truman::Error (invalid) naming the body's field.
daemon::NetworkCreateRequest network_create_request_from_json(const nlohmann::json& body);
// A create body's "networks": ["name", {"name": "...", "ip": "...", "aliases": [...]}].
std::vector<daemon::NetworkAttachRequest> attach_requests_from_json(const nlohmann::json& v);
// A create body's "dns", "dns_search", "dns_options" and "extra_hosts" (all string arrays).
void apply_name_options(JsonObjectReader& f, daemon::NameOptions* names);
// POST /v1/networks/{name}/connect's {"container", "ip"?, "aliases"?}; disconnect's
// {"container"}.
daemon::NetworkConnectRequest network_connect_request_from_json(const nlohmann::json& body);
std::string network_disconnect_container_from_json(const nlohmann::json& body);
// POST /v1/auth's {"registry", "username", "password"} (all required strings).
daemon::LoginRequest login_request_from_json(const nlohmann::json& body);
nlohmann::json to_json(const daemon::NetworkInfo& network);
nlohmann::json to_json(const std::vector<daemon::ContainerEndpoint>& endpoints);
// A create body's "ports": [{"host_ip", "host_port", "host_port_end", "container_port",
// "container_port_end", "proto"}] (only container_port required), and inspect's.
std::vector<daemon::PortMapping> port_mappings_from_json(const nlohmann::json& v);
nlohmann::json to_json(const std::vector<daemon::PortMapping>& ports);

}  // namespace truman::api
