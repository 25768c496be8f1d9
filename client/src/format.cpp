#include "truman/client/format.hpp"

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "truman/cgroup_limits.hpp"
#include "truman/signal_names.hpp"

namespace truman::client {

std::optional<std::time_t> parse_rfc3339(const std::string& text) {
    int year, month, day, hour, minute, second, consumed = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                    &second, &consumed) != 6 ||
        consumed != 19)
        return std::nullopt;
    // Only UTC ('Z', optionally after a fraction) is written by trumand.
    size_t pos = 19;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    }
    if (pos + 1 != text.size() || text[pos] != 'Z') return std::nullopt;
    std::tm utc{};
    utc.tm_year = year - 1900;
    utc.tm_mon = month - 1;
    utc.tm_mday = day;
    utc.tm_hour = hour;
    utc.tm_min = minute;
    utc.tm_sec = second;
    return timegm(&utc);
}

std::string human_duration(std::time_t seconds) {
    auto plural = [](long long n, const char* unit) {
        return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
    };
    if (seconds < 1) return "Less than a second";
    if (seconds < 60) return plural(seconds, "second");
    long long minutes = seconds / 60;
    if (minutes == 1) return "About a minute";
    if (minutes < 60) return plural(minutes, "minute");
    long long hours = (seconds + 1800) / 3600;  // rounded, as docker does
    if (hours == 1) return "About an hour";
    if (hours < 48) return plural(hours, "hour");
    if (hours < 24LL * 7 * 2) return plural(hours / 24, "day");
    if (hours < 24LL * 30 * 2) return plural(hours / 24 / 7, "week");
    if (hours < 24LL * 365 * 2) return plural(hours / 24 / 30, "month");
    return plural(hours / 24 / 365, "year");
}

namespace {
std::string string_field(const nlohmann::json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::time_t since(const std::string& rfc3339, std::time_t now) {
    auto t = parse_rfc3339(rfc3339);
    // A clock that went backwards is shown as "Less than a second", never as negative.
    return t && now > *t ? now - *t : 0;
}
}  // namespace

std::string status_text(const nlohmann::json& state, std::time_t now) {
    std::string status = string_field(state, "status");
    if (status == "running")
        return "Up " + human_duration(since(string_field(state, "started_at"), now));
    if (status == "exited") {
        std::string code = "?";
        if (auto it = state.find("exit_code"); it != state.end() && it->is_number_integer())
            code = std::to_string(it->get<int>());
        std::string finished = string_field(state, "finished_at");
        if (!parse_rfc3339(finished)) return "Exited (" + code + ")";
        return "Exited (" + code + ") " + human_duration(since(finished, now)) + " ago";
    }
    if (status == "created") return "Created";
    return status;
}

std::string time_ago(const std::string& rfc3339, std::time_t now) {
    if (!parse_rfc3339(rfc3339)) return "";
    return human_duration(since(rfc3339, now)) + " ago";
}

std::string quoted_command(const std::vector<std::string>& cmd, size_t max_chars) {
    std::string joined;
    for (const auto& word : cmd) {
        if (!joined.empty()) joined += ' ';
        joined += word;
    }
    if (joined.size() > max_chars) {
        // Cut on a UTF-8 character boundary so the ellipsis never splits a character.
        size_t cut = max_chars - 1;
        while (cut > 0 && (static_cast<unsigned char>(joined[cut]) & 0xC0) == 0x80) --cut;
        joined = joined.substr(0, cut) + "…";
    }
    return "\"" + joined + "\"";
}

std::string short_id(const std::string& id) {
    return id.substr(0, 12);
}

int64_t parse_size(const std::string& text) {
    auto bad = [&] {
        return std::invalid_argument("invalid size \"" + text +
                                     "\": use a number of bytes or a number with k, m, g or t");
    };
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 18) throw bad();
    int64_t value = std::stoll(text.substr(0, digits));
    std::string unit;
    for (char c : text.substr(digits))
        unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    int shift;
    if (unit.empty() || unit == "b")
        shift = 0;
    else if (unit == "k" || unit == "kb" || unit == "kib")
        shift = 10;
    else if (unit == "m" || unit == "mb" || unit == "mib")
        shift = 20;
    else if (unit == "g" || unit == "gb" || unit == "gib")
        shift = 30;
    else if (unit == "t" || unit == "tb" || unit == "tib")
        shift = 40;
    else
        throw bad();
    if (value > (INT64_MAX >> shift))
        throw std::invalid_argument("size \"" + text + "\" is too large");
    return value << shift;
}

int64_t cpus_to_quota(const std::string& text) {
    size_t used = 0;
    double cpus = 0;
    try {
        cpus = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != text.size() || !(cpus > 0) || cpus > 4096)
        throw std::invalid_argument("invalid --cpus \"" + text +
                                    "\": a positive number like 0.5 or 2");
    auto quota = std::llround(cpus * static_cast<double>(kCpuPeriod));
    // Said in --cpus terms: the kernel's minimum CFS quota is a share of the period.
    if (quota < kMinCpuQuotaMicros) {
        char minimum[32];
        std::snprintf(minimum, sizeof minimum, "%g",
                      static_cast<double>(kMinCpuQuotaMicros) / static_cast<double>(kCpuPeriod));
        throw std::invalid_argument("--cpus " + text + " is below the minimum of " + minimum);
    }
    return quota;
}

int parse_signal(const std::string& text) {
    if (auto number = parse_signal_name(text)) return *number;
    throw std::invalid_argument(unknown_signal_reason(text));
}

namespace {
// Display width of a cell: UTF-8 continuation bytes take no column ("…" is one).
size_t width(const std::string& s) {
    size_t w = 0;
    for (char c : s)
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++w;
    return w;
}
}  // namespace

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> widths;
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size(); ++i) {
            if (widths.size() <= i) widths.push_back(0);
            widths[i] = std::max(widths[i], width(row[i]));
        }
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line.append(widths[i] - width(row[i]) + 3, ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string denial_text(const nlohmann::json& record) {
    std::string time = string_field(record, "time");
    std::string clock = time.size() >= 19 ? time.substr(11, 8) : time;
    if (auto dropped = record.find("dropped"); dropped != record.end() && dropped->is_number())
        return clock + " (" + std::to_string(dropped->get<uint64_t>()) + " older denials dropped)";
    std::string pid = "?";
    if (auto it = record.find("pid"); it != record.end() && it->is_number_integer())
        pid = std::to_string(it->get<int64_t>());
    std::string comm = string_field(record, "comm");
    std::string who = clock + " pid " + pid + (comm.empty() ? "" : " (" + comm + ")");
    if (string_field(record, "action") == "kill") return who + " killed by SIGSYS";
    std::string error = "?";
    if (auto it = record.find("errno"); it != record.end() && it->is_string())
        error = it->get<std::string>();
    return who + " " + string_field(record, "syscall") + " → " + error;
}

}  // namespace truman::client
