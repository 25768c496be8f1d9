// Signal names as users write them (TERM, SIGKILL, hup, 9, RTMIN+2, RTMAX-1): one parser for
// the API and for trumanctl, which checks before sending. Header-only, so that trumanctl can
// use it without linking the runtime library.
#pragma once

#include <signal.h>
#include <string.h>

#include <cctype>
#include <optional>
#include <string>
#include <tuple>

namespace truman {

// The signals there are: 1..SIGRTMAX (64 on Linux, the kernel's _NSIG). Every range check
// of a signal number asks this.
inline bool is_signal_number(int n) {
    return n >= 1 && n <= SIGRTMAX;
}

// The signal number, or nullopt when text names no signal of 1..SIGRTMAX.
inline std::optional<int> parse_signal_name(const std::string& text) {
    if (text.empty()) return std::nullopt;
    if (text.find_first_not_of("0123456789") == std::string::npos) {
        if (text.size() > 3) return std::nullopt;
        int n = std::stoi(text);
        if (!is_signal_number(n)) return std::nullopt;
        return n;
    }
    std::string name;
    for (char c : text)
        name.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
    // glibc's own abbreviations ("KILL", "TERM", ...), plus the aliases kill(1) accepts.
    for (int n = 1; n < SIGRTMIN; ++n)
        if (const char* abbrev = sigabbrev_np(n); abbrev && name == abbrev) return n;
    if (name == "IOT") return SIGABRT;
    if (name == "POLL") return SIGPOLL;
    if (name == "CLD") return SIGCHLD;
    // RTMIN, RTMIN+n, RTMAX, RTMAX-n
    for (auto [base, sign, number] :
         {std::tuple{"RTMIN", '+', SIGRTMIN}, std::tuple{"RTMAX", '-', SIGRTMAX}}) {
        std::string b = base;
        if (name == b) return number;
        if (name.size() > b.size() + 1 && name.compare(0, b.size(), b) == 0 &&
            name[b.size()] == sign) {
            std::string offset = name.substr(b.size() + 1);
            if (offset.size() > 2 || offset.find_first_not_of("0123456789") != std::string::npos)
                return std::nullopt;
            int n = number + (sign == '+' ? 1 : -1) * std::stoi(offset);
            if (n < SIGRTMIN || n > SIGRTMAX) return std::nullopt;
            return n;
        }
    }
    return std::nullopt;
}

// What to say about text that parse_signal_name() refuses.
inline std::string unknown_signal_reason(const std::string& text) {
    return "unknown signal \"" + text + "\" (a name like TERM or SIGKILL, or 1-" +
           std::to_string(SIGRTMAX) + ")";
}

}  // namespace truman
