#include "truman/daemon/time_format.hpp"

#include <cstdio>

namespace truman::daemon {

std::string rfc3339(const timespec& when) {
    tm utc{};
    gmtime_r(&when.tv_sec, &utc);
    char buf[64];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", utc.tm_year + 1900,
             utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, when.tv_nsec);
    return buf;
}

std::string rfc3339_now() {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return rfc3339(now);
}

}  // namespace truman::daemon
