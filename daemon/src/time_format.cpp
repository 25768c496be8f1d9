#include "truman/daemon/time_format.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

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

namespace {

// Up to nine digits of a fraction at text[pos...] (after the '.') as nanoseconds; advances pos.
bool parse_fraction(const std::string& text, size_t& pos, long& nanos) {
    size_t digits = 0;
    nanos = 0;
    long scale = 100000000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        if (digits++ < 9) {
            nanos += (text[pos] - '0') * scale;
            scale /= 10;
        }
        ++pos;
    }
    return digits > 0;
}

}  // namespace

std::optional<timespec> parse_client_time(const std::string& text) {
    if (text.empty() || text.size() > 64) return std::nullopt;
    if (text.find_first_not_of("0123456789.") == std::string::npos) {
        size_t dot = text.find('.');
        std::string secs = text.substr(0, dot);
        if (secs.empty() || secs.size() > 12) return std::nullopt;
        timespec out{static_cast<time_t>(std::strtoll(secs.c_str(), nullptr, 10)), 0};
        if (dot == std::string::npos) return out;
        size_t pos = dot + 1;
        if (!parse_fraction(text, pos, out.tv_nsec) || pos != text.size()) return std::nullopt;
        return out;
    }
    tm fields{};
    const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &fields);
    if (!rest) return std::nullopt;
    size_t pos = static_cast<size_t>(rest - text.c_str());
    timespec out{0, 0};
    if (pos < text.size() && text[pos] == '.' && !parse_fraction(text, ++pos, out.tv_nsec))
        return std::nullopt;
    long offset = 0;
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
        ++pos;
    } else if (pos + 6 == text.size() && (text[pos] == '+' || text[pos] == '-') &&
               text[pos + 3] == ':') {
        int hours = 0, minutes = 0;
        if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d", &hours, &minutes) != 2 || hours > 23 ||
            minutes > 59)
            return std::nullopt;
        offset = (hours * 60L + minutes) * 60L * (text[pos] == '-' ? -1 : 1);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != text.size()) return std::nullopt;
    out.tv_sec = timegm(&fields) - offset;
    return out;
}

}  // namespace truman::daemon
