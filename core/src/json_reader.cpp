// The strict JSON reader of config.json and of the API's bodies (see truman/json_reader.hpp).
#include "truman/json_reader.hpp"

#include <limits>

namespace truman {

using nlohmann::json;

Error unsupported_field(const std::string& path, const std::string& why) {
    return unsupported_argument(path,
                                "not supported by truman" + (why.empty() ? "" : " (" + why + ")"));
}

void throw_not_an_array(const std::string& path) {
    throw invalid_argument(path, "must be an array");
}

std::string json_string(const json& v, const std::string& path) {
    if (!v.is_string()) throw invalid_argument(path, "must be a string");
    return v.get<std::string>();
}

bool json_bool(const json& v, const std::string& path) {
    if (!v.is_boolean()) throw invalid_argument(path, "must be a boolean");
    return v.get<bool>();
}

// The parser stores non-negative integers as unsigned and negative ones as signed; a document
// built in C++ ({"size", 0}) holds signed ones of either sign.
uint64_t json_u64(const json& v, const std::string& path) {
    if (!v.is_number_integer()) throw invalid_argument(path, "must be an integer");
    if (!v.is_number_unsigned() && v.get<int64_t>() < 0)
        throw invalid_argument(path, "must not be negative");
    return v.get<uint64_t>();
}

int64_t json_i64(const json& v, const std::string& path) {
    if (!v.is_number_integer()) throw invalid_argument(path, "must be an integer");
    if (v.is_number_unsigned() &&
        v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw invalid_argument(path, "must be at most 9223372036854775807");
    }
    return v.get<int64_t>();
}

uint32_t json_u32(const json& v, const std::string& path) {
    uint64_t value = json_u64(v, path);
    if (value > std::numeric_limits<uint32_t>::max()) {
        throw invalid_argument(path, "must be at most 4294967295");
    }
    return static_cast<uint32_t>(value);
}

char json_char(const json& v, const std::string& path) {
    std::string s = json_string(v, path);
    if (s.size() != 1) throw invalid_argument(path, "must be a single character");
    return s[0];
}

std::vector<std::string> json_strings(const json& v, const std::string& path) {
    return json_array<std::string>(v, path, json_string);
}

namespace {

// An unsupported field is harmless when its value asks for nothing: configs written by other
// tools often carry `"terminal": false`, `"sysctl": {}` or nulls for unset fields.
bool asks_for_nothing(const json& v) {
    if (v.is_null()) return true;
    if (v.is_boolean()) return !v.get<bool>();
    if (v.is_string()) return v.get_ref<const std::string&>().empty();
    if (v.is_object() || v.is_array()) return v.empty();
    return false;
}

}  // namespace

JsonObjectReader::JsonObjectReader(const json& v, std::string path, const char* whole_name)
    : object_(v), path_(std::move(path)) {
    if (!v.is_object())
        throw invalid_argument(path_.empty() ? whole_name : path_, "must be an object");
}

const json* JsonObjectReader::get(std::string_view key) {
    seen_.insert(std::string(key));
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
}

const json& JsonObjectReader::required(std::string_view key) {
    const json* v = get(key);
    if (v == nullptr) throw invalid_argument(path(key), "is required");
    return *v;
}

void JsonObjectReader::unsupported(std::initializer_list<std::string_view> keys,
                                   const std::string& why) {
    for (std::string_view key : keys) {
        const json* v = get(key);
        if (v != nullptr && !asks_for_nothing(*v)) throw unsupported_field(path(key), why);
    }
}

void JsonObjectReader::finish() const {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
        if (seen_.count(it.key()) == 0) throw invalid_argument(path(it.key()), "unknown field");
    }
}

}  // namespace truman
