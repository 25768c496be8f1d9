// The process a container runs (OCI "process"): the rules its fields follow, asked by
// validate() and by front-ends that build the environment themselves.
#pragma once

#include <string>

namespace truman {

struct Process;

// "KEY=value" -> "KEY". Throws truman::Error (invalid) naming field for an entry without '=',
// with an empty name, or with a NUL (execve would cut the string there).
std::string env_name(const std::string& entry, const std::string& field);

// process.args (not empty, argv[0] not empty, no NUL), process.env (env_name), process.cwd
// (absolute, not through a /proc magic link) and process.user.umask. Capabilities and rlimits have
// their own concern (capabilities.hpp, rlimits.hpp). Throws truman::Error (invalid) naming the
// field.
void validate_process(const Process& process);

}  // namespace truman
