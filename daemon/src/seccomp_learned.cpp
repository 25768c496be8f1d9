#include "truman/daemon/seccomp_learned.hpp"

#include <cerrno>
#include <nlohmann/json.hpp>

#include "truman/daemon/atomic_file.hpp"
#include "truman/error.hpp"

namespace truman::daemon {

std::string learned_syscalls_json(const LearnedSyscalls& seen) {
    nlohmann::json calls = nlohmann::json::array();
    for (const auto& call : seen) calls.push_back({{"name", call.name}, {"arch", call.arch}});
    return nlohmann::json{{"syscalls", std::move(calls)}}.dump() + "\n";
}

LearnedSyscalls read_learned_syscalls(const std::string& path) {
    std::string text;
    try {
        text = read_whole_file(path);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::not_found) return {};
        throw;
    }
    LearnedSyscalls seen;
    try {
        nlohmann::json doc = nlohmann::json::parse(text);
        for (const auto& call : doc.at("syscalls"))
            seen.insert({call.at("name").get<std::string>(), call.at("arch").get<std::string>()});
    } catch (const nlohmann::json::exception& e) {
        throw make_error(ErrorKind::invalid, path + ": not a learned syscall set: " + e.what());
    }
    return seen;
}

}  // namespace truman::daemon
