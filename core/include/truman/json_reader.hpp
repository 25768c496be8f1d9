// The strict JSON object reader that both config.json (spec_from_json) and the API's create
// body are read with: every value by its field path, so every type error names the field,
// and every object rejects the keys nobody asked for.
//
// Strict on purpose: a field the reader does not know would otherwise be silently dropped and
// the container would run with less isolation (or different behaviour) than its author asked
// for; a typo ("memroy") would quietly become a default.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "truman/error.hpp"

namespace truman {

// Typed reads of one value. Each throws truman::Error (invalid) naming path. Integers follow
// Go's encoding/json, which OCI tools use: a float (even 1.0) is not an integer.
std::string json_string(const nlohmann::json& v, const std::string& path);
bool json_bool(const nlohmann::json& v, const std::string& path);
uint64_t json_u64(const nlohmann::json& v, const std::string& path);
int64_t json_i64(const nlohmann::json& v, const std::string& path);
uint32_t json_u32(const nlohmann::json& v, const std::string& path);
char json_char(const nlohmann::json& v, const std::string& path);  // a one-letter string
std::vector<std::string> json_strings(const nlohmann::json& v, const std::string& path);

[[noreturn]] void throw_not_an_array(const std::string& path);

// An array read element by element, each element named "path[i]".
template <typename T, typename ReadElement>
std::vector<T> json_array(const nlohmann::json& v, const std::string& path,
                          ReadElement read_element) {
    if (!v.is_array()) throw_not_an_array(path);
    std::vector<T> out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) out.push_back(read_element(v[i], index_path(path, i)));
    return out;
}

// One JSON object being read: hands out its fields by name and, in finish(), rejects every key
// nobody asked for. JSON null counts as absent, like Go's omitempty fields.
class JsonObjectReader {
  public:
    // path names the object in errors; whole_name stands for the top-level object (path "").
    JsonObjectReader(const nlohmann::json& v, std::string path, const char* whole_name = "config");

    std::string path(std::string_view key) const { return field_path(path_, key); }

    // The field's value, or nullptr when it is absent or null.
    const nlohmann::json* get(std::string_view key);
    // The field's value; "is required" when it is absent or null.
    const nlohmann::json& required(std::string_view key);

    // Read key with `read` into `out` when present; otherwise out keeps its default.
    template <typename T, typename Read>
    void optional(std::string_view key, T& out, Read read) {
        if (const nlohmann::json* v = get(key)) out = read(*v, path(key));
    }

    // OCI fields truman does not implement: an error (unsupported) unless the value asks for
    // nothing (null, false, "", {} or []), as configs written by other tools often carry.
    void unsupported(std::initializer_list<std::string_view> keys, const std::string& why = "");

    // Metadata accepted and not acted on.
    void ignore(std::string_view key) { seen_.insert(std::string(key)); }

    // "<path>.<key>: unknown field" for the first key no one asked for.
    void finish() const;

  private:
    const nlohmann::json& object_;
    std::string path_;
    std::set<std::string, std::less<>> seen_;
};

// "<path>: not supported by truman (why)".
Error unsupported_field(const std::string& path, const std::string& why = "");

}  // namespace truman
