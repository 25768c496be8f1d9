#include "truman/daemon/names.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdint>

#include "truman/error.hpp"

namespace truman::daemon {

namespace {

void random_bytes(void* buf, size_t len) {
    auto* p = static_cast<unsigned char*>(buf);
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw system_error("getrandom");
        }
        p += n;
        len -= static_cast<size_t>(n);
    }
}

std::string hex(const unsigned char* bytes, size_t len) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (size_t i = 0; i < len; ++i) {
        out.push_back(digits[bytes[i] >> 4]);
        out.push_back(digits[bytes[i] & 0xf]);
    }
    return out;
}

constexpr std::array adjectives = {"brave", "calm",  "clever", "eager",  "fancy",  "gentle",
                                   "happy", "jolly", "keen",   "lucid",  "merry",  "nimble",
                                   "proud", "quiet", "sharp",  "steady", "swift",  "tender",
                                   "vivid", "wise",  "bold",   "bright", "cosmic", "dreamy"};
constexpr std::array nouns = {"truman", "meryl",  "marlon", "sylvia",     "christof", "seahaven",
                              "harbor", "island", "ferry",  "lighthouse", "sky",      "studio",
                              "dome",   "sailor", "beacon", "compass",    "anchor",   "tide",
                              "gull",   "pier",   "dune",   "reef",       "lagoon",   "voyager"};

uint32_t random_below(uint32_t n) {
    uint32_t r;
    random_bytes(&r, sizeof r);
    return r % n;
}

}  // namespace

std::string generate_id() {
    unsigned char bytes[32];
    random_bytes(bytes, sizeof bytes);
    return hex(bytes, sizeof bytes);
}

std::string generate_name(const std::function<bool(const std::string&)>& taken) {
    for (int attempt = 0; attempt < 8; ++attempt) {
        std::string name = std::string(adjectives[random_below(adjectives.size())]) + "_" +
                           nouns[random_below(nouns.size())];
        if (!taken(name)) return name;
    }
    for (;;) {
        unsigned char bytes[4];
        random_bytes(bytes, sizeof bytes);
        std::string name = "truman_" + hex(bytes, sizeof bytes);
        if (!taken(name)) return name;
    }
}

void throw_empty_ref() {
    throw invalid_argument("container", "empty reference");
}

void throw_ambiguous_ref(const std::string& ref, size_t matches) {
    throw Error(ErrorKind::invalid, EINVAL,
                "container: prefix \"" + ref + "\" is ambiguous (" + std::to_string(matches) +
                    " containers); give more of the id");
}

void throw_unknown_ref(const std::string& ref) {
    throw Error(ErrorKind::not_found, ENOENT, "no such container: " + ref);
}

}  // namespace truman::daemon
