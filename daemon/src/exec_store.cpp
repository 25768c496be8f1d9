#include "truman/daemon/exec_store.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "truman/daemon/atomic_file.hpp"
#include "truman/error.hpp"

using nlohmann::json;

namespace truman::daemon {

namespace {

json parse_file(const std::string& path) {
    json doc = json::parse(read_whole_file(path), nullptr, false);
    if (!doc.is_object()) throw Error(ErrorKind::invalid, EINVAL, path + ": not a JSON object");
    return doc;
}

// A malformed file is the state directory's fault, not the caller's.
template <typename Read>
auto read_fields(const std::string& path, Read read) {
    json doc = parse_file(path);
    try {
        return read(doc);
    } catch (const json::exception& e) {
        throw Error(ErrorKind::system, EINVAL, path + ": " + e.what());
    }
}

}  // namespace

void write_exec_config(const ExecPaths& paths, const ExecRequest& request) {
    std::string root = paths.dir().substr(0, paths.dir().rfind('/'));
    if (::mkdir(root.c_str(), 0700) < 0 && errno != EEXIST) throw system_error("mkdir " + root);
    if (::mkdir(paths.dir().c_str(), 0700) < 0) throw system_error("mkdir " + paths.dir());
    json doc = {{"cmd", request.cmd},
                {"env", request.env},
                {"tty", request.tty},
                {"stdin", request.attach_stdin}};
    doc["cwd"] = request.cwd ? json(*request.cwd) : json(nullptr);
    if (request.user)
        doc["user"] = {{"uid", request.user->uid},
                       {"gid", request.user->gid},
                       {"additional_gids", request.user->additional_gids}};
    else
        doc["user"] = nullptr;
    write_file_replace(paths.config(), doc.dump(2) + "\n");
}

ExecRequest read_exec_config(const ExecPaths& paths) {
    return read_fields(paths.config(), [](const json& doc) {
        ExecRequest r;
        r.cmd = doc.at("cmd").get<std::vector<std::string>>();
        r.env = doc.at("env").get<std::vector<std::string>>();
        r.tty = doc.at("tty").get<bool>();
        r.attach_stdin = doc.value("stdin", false);  // absent before attach existed
        if (!doc.at("cwd").is_null()) r.cwd = doc.at("cwd").get<std::string>();
        if (const json& u = doc.at("user"); !u.is_null()) {
            User user;
            user.uid = u.at("uid").get<uint32_t>();
            user.gid = u.at("gid").get<uint32_t>();
            user.additional_gids = u.at("additional_gids").get<std::vector<uint32_t>>();
            r.user = user;
        }
        return r;
    });
}

void write_exec_state(const ExecPaths& paths, const ExecState& state) {
    json doc = {{"running", state.running}, {"pid", state.pid}, {"signal", state.signal}};
    doc["exit_code"] = state.exit_code ? json(*state.exit_code) : json(nullptr);
    write_file_replace(paths.state(), doc.dump(2) + "\n");
}

std::optional<ExecState> read_exec_state(const ExecPaths& paths) {
    struct stat st {};
    if (::stat(paths.state().c_str(), &st) != 0) {
        if (errno == ENOENT) return std::nullopt;
        throw system_error("stat " + paths.state());
    }
    return read_fields(paths.state(), [](const json& doc) {
        ExecState s;
        s.running = doc.at("running").get<bool>();
        s.pid = doc.at("pid").get<pid_t>();
        s.signal = doc.at("signal").get<int>();
        if (!doc.at("exit_code").is_null()) s.exit_code = doc.at("exit_code").get<int>();
        return s;
    });
}

}  // namespace truman::daemon
