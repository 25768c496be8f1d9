// The rules of a container's process (see truman/process.hpp).
#include "truman/process.hpp"

#include "truman/error.hpp"
#include "truman/mounts.hpp"
#include "truman/spec.hpp"

namespace truman {

namespace {

void validate_c_string(const std::string& text, const std::string& field) {
    if (text.find('\0') != std::string::npos) throw invalid_argument(field, "must not contain NUL");
}

}  // namespace

std::string env_name(const std::string& entry, const std::string& field) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos) throw invalid_argument(field, "must be KEY=value");
    if (eq == 0) throw invalid_argument(field, "empty variable name");
    validate_c_string(entry, field);
    return entry.substr(0, eq);
}

void validate_process(const Process& p) {
    if (p.args.empty()) throw invalid_argument("process.args", "must not be empty");
    if (p.args[0].empty()) throw invalid_argument("process.args[0]", "must not be empty");
    for (size_t i = 0; i < p.args.size(); ++i)
        validate_c_string(p.args[i], index_path("process.args", i));
    for (size_t i = 0; i < p.env.size(); ++i) env_name(p.env[i], index_path("process.env", i));
    validate_absolute_path(p.cwd, "process.cwd");
    check_not_magic_link(p.cwd, "process.cwd");
    if (p.user.umask && *p.user.umask > 0777) {
        throw invalid_argument("process.user.umask", "must be at most 0777");
    }
}

}  // namespace truman
