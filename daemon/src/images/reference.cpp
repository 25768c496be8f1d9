#include "truman/daemon/images/reference.hpp"

#include <cctype>
#include <string_view>

#include "truman/daemon/images/digest.hpp"
#include "truman/error.hpp"

namespace truman::daemon::images {

namespace {

constexpr size_t kMaxNameLength = 255;  // Docker's limit on domain + path
constexpr size_t kMaxTagLength = 128;

bool is_alnum_lower(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool is_path_component(std::string_view c) {
    if (c.empty() || !is_alnum_lower(c.front()) || !is_alnum_lower(c.back())) return false;
    for (size_t i = 0; i < c.size();) {
        if (is_alnum_lower(c[i])) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < c.size() && !is_alnum_lower(c[j])) ++j;
        std::string_view sep = c.substr(i, j - i);
        bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
        if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
        i = j;
    }
    return true;
}

// A host name (labels of [A-Za-z0-9-], not starting or ending with '-') with an optional
// :port, or a bracketed IPv6 address with an optional port.
bool is_domain(std::string_view d) {
    if (d.empty()) return false;
    std::string_view host = d;
    if (d.front() == '[') {
        size_t close = d.find(']');
        if (close == std::string_view::npos) return false;
        for (char c : d.substr(1, close - 1))
            if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':') return false;
        host = {};
        d.remove_prefix(close + 1);
        if (d.empty()) return true;
        if (d.front() != ':') return false;
    } else {
        size_t colon = d.find(':');
        host = d.substr(0, colon);
        d = colon == std::string_view::npos ? std::string_view{} : d.substr(colon);
    }
    if (!d.empty()) {
        std::string_view port = d.substr(1);
        if (port.empty() || port.size() > 5 ||
            port.find_first_not_of("0123456789") != std::string_view::npos)
            return false;
    }
    while (!host.empty()) {
        size_t dot = host.find('.');
        std::string_view label = host.substr(0, dot);
        if (label.empty() || label.front() == '-' || label.back() == '-') return false;
        for (char c : label)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
        if (dot == std::string_view::npos) break;
        host.remove_prefix(dot + 1);
    }
    return true;
}

bool is_tag(std::string_view t) {
    if (t.empty() || t.size() > kMaxTagLength) return false;
    auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    if (!word(t.front())) return false;
    for (char c : t)
        if (!word(c) && c != '.' && c != '-') return false;
    return true;
}

}  // namespace

std::string ImageRef::str() const {
    std::string s = name();
    if (!tag.empty()) s += ":" + tag;
    if (!digest.empty()) s += "@" + digest;
    return s;
}

ImageRef parse_reference(const std::string& text, const std::string& field) {
    auto bad = [&](const std::string& why) {
        return invalid_argument(field, "\"" + text.substr(0, 300) + "\" " + why);
    };
    if (text.empty()) throw invalid_argument(field, "must not be empty");
    ImageRef ref;
    std::string rest = text;
    if (size_t at = rest.find('@'); at != std::string::npos) {
        ref.digest = rest.substr(at + 1);
        if (!is_valid_digest(ref.digest)) throw bad("has no sha256:<64 hex digits> after '@'");
        rest.resize(at);
    }
    size_t slash = rest.rfind('/');
    size_t colon = rest.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
        ref.tag = rest.substr(colon + 1);
        if (!is_tag(ref.tag)) throw bad("has an invalid tag (letters, digits, _ . -, at most 128)");
        rest.resize(colon);
    }
    size_t first = rest.find('/');
    if (first != std::string::npos) {
        std::string head = rest.substr(0, first);
        if (!head.empty() && (head.find_first_of(".:") != std::string::npos ||
                              head == "localhost" || head.front() == '[')) {
            if (!is_domain(head)) throw bad("has an invalid registry");
            ref.domain = head;
            rest = rest.substr(first + 1);
        }
    }
    if (ref.domain.empty() || ref.domain == "index.docker.io") ref.domain = "docker.io";
    if (ref.domain == "docker.io" && rest.find('/') == std::string::npos) rest = "library/" + rest;
    for (size_t begin = 0;;) {
        size_t end = rest.find('/', begin);
        std::string_view component =
            std::string_view(rest).substr(begin, end == std::string::npos ? end : end - begin);
        if (!is_path_component(component))
            throw bad(
                "is not a reference: path components are lowercase letters and digits, "
                "joined by '.', '_', '__' or dashes");
        if (end == std::string::npos) break;
        begin = end + 1;
    }
    ref.path = rest;
    if (ref.name().size() > kMaxNameLength) throw bad("is longer than 255 characters");
    if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
    return ref;
}

}  // namespace truman::daemon::images
