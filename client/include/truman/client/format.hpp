// trumanctl's pure presentation logic: times, durations, container status text, sizes, signal
// names and aligned tables. No I/O, so all of it is unit tested.
#pragma once

#include <cstdint>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace truman::client {

// "2026-11-29T13:32:29.123456789Z" (what trumand writes) -> seconds since the epoch; the
// fraction is ignored. nullopt for "" or anything else.
std::optional<std::time_t> parse_rfc3339(const std::string& text);

// Docker's wording: "Less than a second", "1 second", "5 seconds", "About a minute",
// "3 minutes", "About an hour", "5 hours", "3 days", "2 weeks", "4 months", "2 years".
std::string human_duration(std::time_t seconds);

// "Created", "Up 5 seconds", "Exited (3) 2 minutes ago", "Exited (137) ..." for a container's
// "state" object as the API sends it, seen at time now.
std::string status_text(const nlohmann::json& state, std::time_t now);
// "3 minutes ago" for an RFC 3339 time ("" when it does not parse).
std::string time_ago(const std::string& rfc3339, std::time_t now);

// A command line for `ps`: the words joined with spaces, quoted, cut to max_chars with "…".
std::string quoted_command(const std::vector<std::string>& cmd, size_t max_chars = 20);

// The first 12 characters of an id.
std::string short_id(const std::string& id);

// "128m", "1g", "512k", "1024", "64MiB", "2GB" -> bytes (binary units, like docker).
// Throws std::invalid_argument naming the text.
int64_t parse_size(const std::string& text);

// "1.5" CPUs -> a CFS quota in microseconds per kCpuPeriod. Throws std::invalid_argument.
constexpr int64_t kCpuPeriod = 100000;
int64_t cpus_to_quota(const std::string& text);

// "KILL", "sigkill", "SIGTERM", "9", "RTMIN+2" -> the signal number. Throws
// std::invalid_argument naming the text (trumand checks again; this gives the usage error
// before any request is sent).
int parse_signal(const std::string& text);

// Columns padded to the widest cell plus three spaces (the last column is not padded);
// the first row is the header. Every row ends with '\n'.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

// A SeccompRecord of the API as trumanctl denials prints it: "12:00:01 pid 7 (sh) mount →
// EPERM" (the time of day in UTC), "12:00:01 pid 1 killed by SIGSYS", or for a drop note
// "12:00:01 (1234 older denials dropped)".
std::string denial_text(const nlohmann::json& record);

}  // namespace truman::client
