// Timestamps as the daemon writes them everywhere (state, logs, events): RFC 3339, UTC, with
// nanoseconds ("2026-11-29T12:38:36.123456789Z"), so that lines sort as strings.
#pragma once

#include <time.h>

#include <string>

namespace truman::daemon {

std::string rfc3339(const timespec& when);
std::string rfc3339_now();  // CLOCK_REALTIME

}  // namespace truman::daemon
