// JSON <-> the service's types. The create body is the API's own shape (documented in
// openapi.yaml): flat, Docker-like names, mapped onto truman::default_spec() and then checked
// by truman::validate(). Every type error and every unknown field names the field.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "truman/daemon/service.hpp"

namespace truman::api {

// Throws truman::Error (invalid / unsupported) naming the field: "cmd[1]: must be a string",
// "resources.memory: must be an integer", "bogus: unknown field".
daemon::CreateRequest create_request_from_json(const nlohmann::json& body);

nlohmann::json to_json(const daemon::ContainerInfo& info);
nlohmann::json to_json(const daemon::ContainerState& state);
nlohmann::json to_json(const daemon::Event& event);
nlohmann::json to_json(const daemon::DaemonInfo& info);
nlohmann::json to_json(const daemon::LogLine& line);

// "KILL", "SIGKILL", "sigkill", "9" -> 9. Throws truman::Error (invalid) naming "signal".
int parse_signal(const std::string& text);

// Query-string values. Throw truman::Error (invalid) naming the parameter.
bool parse_bool_param(const std::string& name, const std::string& value);
long long parse_int_param(const std::string& name, const std::string& value, long long min,
                          long long max);

}  // namespace truman::api
