// Timestamps as the daemon writes them everywhere (state, logs, events): RFC 3339, UTC, with
// nanoseconds ("2026-11-29T12:38:36.123456789Z"), so that lines sort as strings.
#pragma once

#include <time.h>

#include <optional>
#include <string>

namespace truman::daemon {

std::string rfc3339(const timespec& when);
std::string rfc3339_now();  // CLOCK_REALTIME

// A time a client gives ("since"): RFC 3339 with an optional fraction and "Z" or an offset
// ("2026-11-29T12:38:36Z", "2026-11-29T13:38:36.5+01:00"), or Unix seconds with an optional
// fraction ("1764419916.5"). nullopt for anything else.
std::optional<timespec> parse_client_time(const std::string& text);

}  // namespace truman::daemon
