#include "truman/detach_keys.hpp"

#include "truman/error.hpp"

namespace truman {

namespace {

// "ctrl-@" is 0, "ctrl-a" 1 ... "ctrl-z" 26, then "ctrl-[" 27 ... "ctrl-_" 31: the control
// code is the character's low five bits, as on a terminal.
bool control_code(std::string_view key, char& code) {
    constexpr std::string_view prefix = "ctrl-";
    if (key.size() != prefix.size() + 1 || key.substr(0, prefix.size()) != prefix) return false;
    char c = key.back();
    bool letter = c >= 'a' && c <= 'z';
    bool symbol = c == '@' || c == '[' || c == '\\' || c == ']' || c == '^' || c == '_';
    if (!letter && !symbol) return false;
    code = static_cast<char>(c & 0x1f);
    return true;
}

}  // namespace

std::string parse_detach_keys(std::string_view notation) {
    if (notation.empty()) throw invalid_argument("detach_keys", "must not be empty");
    std::string bytes;
    size_t start = 0;
    for (;;) {
        size_t comma = notation.find(',', start);
        std::string_view key =
            notation.substr(start, comma == std::string_view::npos ? comma : comma - start);
        char code = 0;
        if (key.size() == 1)
            bytes += key[0];
        else if (control_code(key, code))
            bytes += code;
        else
            throw invalid_argument("detach_keys",
                                   "unknown key \"" + std::string(key) +
                                       "\" (a single character or ctrl-<a-z@[\\]^_>)");
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return bytes;
}

DetachMatcher::DetachMatcher(std::string keys) : keys_(std::move(keys)) {
    if (keys_.empty()) throw invalid_argument("detach_keys", "must not be empty");
}

bool DetachMatcher::feed(std::string_view input, std::string& out) {
    for (char c : input) {
        held_ += c;
        // Pass on the oldest held byte until what is left may still begin the sequence:
        // the longest suffix of held_ that is a prefix of keys_ is what can still match.
        while (!held_.empty() && keys_.compare(0, held_.size(), held_) != 0) {
            out += held_.front();
            held_.erase(0, 1);
        }
        if (held_.size() == keys_.size()) {
            held_.clear();
            return true;
        }
    }
    return false;
}

std::string DetachMatcher::flush() {
    std::string out;
    out.swap(held_);
    return out;
}

}  // namespace truman
