#include "truman/daemon/state_store.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/names.hpp"
#include "truman/error.hpp"
#include "truman/signal_names.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace truman::daemon {

namespace {

// Field access that names the field when the document does not match.
template <typename T>
T field(const json& doc, const char* file, const char* name) {
    auto it = doc.find(name);
    if (it == doc.end()) throw invalid_argument(std::string(file) + "." + name, "missing");
    try {
        return it->get<T>();
    } catch (const json::exception&) {
        throw invalid_argument(std::string(file) + "." + name, "wrong type");
    }
}

template <typename T>
T field_or(const json& doc, const char* file, const char* name, T fallback) {
    auto it = doc.find(name);
    if (it == doc.end() || it->is_null()) return fallback;
    return field<T>(doc, file, name);
}

json parse_file(const std::string& path) {
    std::string text = read_whole_file(path);
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        throw Error(ErrorKind::invalid, EINVAL, path + ": not valid JSON: " + e.what());
    }
}

constexpr std::string_view removing_prefix = ".removing-";

// No file, or an empty one: a record whose first write never reached the disk (the power
// failed before its fsync) reads as no record.
bool missing_or_empty(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) < 0) return errno == ENOENT;
    return st.st_size == 0;
}

std::string dump(const json& doc) {
    return doc.dump(2) + "\n";
}

}  // namespace

json meta_to_json(const ContainerMeta& meta) {
    json doc = {{"id", meta.id},
                {"name", meta.name},
                {"image", meta.image},
                {"rootfs", meta.rootfs},
                {"cmd", meta.cmd},
                {"created_at", meta.created_at},
                {"open_stdin", meta.open_stdin},
                {"stdin_once", meta.stdin_once},
                {"tty", meta.tty}};
    // The image's defaults, only when there are some: older meta.json files have none.
    if (!meta.labels.empty()) doc["labels"] = meta.labels;
    if (!meta.exposed_ports.empty()) doc["exposed_ports"] = meta.exposed_ports;
    if (meta.stop_signal != 0) doc["stop_signal"] = meta.stop_signal;
    return doc;
}

ContainerMeta meta_from_json(const json& doc) {
    if (!doc.is_object()) throw invalid_argument("meta", "not an object");
    ContainerMeta meta;
    meta.id = field<std::string>(doc, "meta", "id");
    meta.name = field<std::string>(doc, "meta", "name");
    meta.image = field_or<std::string>(doc, "meta", "image", "");
    meta.rootfs = field_or<std::string>(doc, "meta", "rootfs", "");
    meta.cmd = field_or<std::vector<std::string>>(doc, "meta", "cmd", {});
    meta.created_at = field_or<std::string>(doc, "meta", "created_at", "");
    meta.open_stdin = field_or<bool>(doc, "meta", "open_stdin", false);
    meta.stdin_once = field_or<bool>(doc, "meta", "stdin_once", false);
    meta.tty = field_or<bool>(doc, "meta", "tty", false);
    meta.labels = field_or<std::map<std::string, std::string>>(doc, "meta", "labels", {});
    meta.exposed_ports = field_or<std::vector<std::string>>(doc, "meta", "exposed_ports", {});
    meta.stop_signal = field_or<int>(doc, "meta", "stop_signal", 0);
    if (meta.stop_signal != 0 && !is_signal_number(meta.stop_signal))
        throw invalid_argument("meta.stop_signal", "not a signal");
    if (!is_valid_id(meta.id)) throw invalid_argument("meta.id", "not 64 hex characters");
    if (!is_valid_name(meta.name)) throw invalid_argument("meta.name", "not a valid name");
    return meta;
}

json state_to_json(const StoredState& stored) {
    const ContainerState& s = stored.state;
    json doc = {{"status", to_string(s.status)},
                {"pid", s.pid},
                {"monitor_pid", stored.monitor_pid},
                {"exit_code", s.exit_code ? json(*s.exit_code) : json(nullptr)},
                {"signal", s.signal},
                {"oom_killed", s.oom_killed},
                {"started_at", s.started_at},
                {"finished_at", s.finished_at}};
    if (!stored.reason.empty()) doc["reason"] = stored.reason;
    return doc;
}

StoredState state_from_json(const json& doc) {
    if (!doc.is_object()) throw invalid_argument("state", "not an object");
    StoredState stored;
    ContainerState& s = stored.state;
    auto status = status_from_string(field<std::string>(doc, "state", "status"));
    if (!status) throw invalid_argument("state.status", "unknown status");
    s.status = *status;
    s.pid = field_or<pid_t>(doc, "state", "pid", 0);
    stored.monitor_pid = field_or<pid_t>(doc, "state", "monitor_pid", 0);
    if (doc.contains("exit_code") && !doc["exit_code"].is_null())
        s.exit_code = field<int>(doc, "state", "exit_code");
    s.signal = field_or<int>(doc, "state", "signal", 0);
    s.oom_killed = field_or<bool>(doc, "state", "oom_killed", false);
    s.started_at = field_or<std::string>(doc, "state", "started_at", "");
    s.finished_at = field_or<std::string>(doc, "state", "finished_at", "");
    stored.reason = field_or<std::string>(doc, "state", "reason", "");
    if (s.status == Status::exited && !s.exit_code)
        throw invalid_argument("state.exit_code", "missing for an exited container");
    return stored;
}

void write_meta(const ContainerPaths& paths, const ContainerMeta& meta) {
    write_file_replace(paths.meta(), dump(meta_to_json(meta)));
}

ContainerMeta read_meta(const ContainerPaths& paths) {
    json doc = parse_file(paths.meta());
    try {
        return meta_from_json(doc);
    } catch (const Error& e) {
        throw Error(e.kind(), e.err(), paths.meta() + ": " + e.what());
    }
}

void write_state(const ContainerPaths& paths, const StoredState& state) {
    write_file_replace(paths.state(), dump(state_to_json(state)));
}

StoredState read_state(const ContainerPaths& paths) {
    json doc = parse_file(paths.state());
    try {
        return state_from_json(doc);
    } catch (const Error& e) {
        throw Error(e.kind(), e.err(), paths.state() + ": " + e.what());
    }
}

std::string removing_dir_name(const std::string& container_dir) {
    fs::path dir(container_dir);
    return (dir.parent_path() / (std::string(removing_prefix) + dir.filename().string())).string();
}

std::vector<StoredContainer> load_containers(const std::string& containers_dir) {
    std::vector<StoredContainer> out;
    std::error_code ec;
    fs::directory_iterator it(containers_dir, ec);
    if (ec) {
        spdlog::error("cannot list {}: {}", containers_dir, ec.message());
        return out;
    }
    for (const auto& entry : it) {
        std::string name = entry.path().filename();
        if (name.rfind(removing_prefix, 0) == 0 &&
            is_valid_id(name.substr(removing_prefix.size()))) {
            spdlog::info("finishing the removal of {}", name.substr(removing_prefix.size()));
            fs::remove_all(entry.path(), ec);
            if (ec) spdlog::error("remove {}: {}", entry.path().string(), ec.message());
            continue;
        }
        if (!is_valid_id(name) || !entry.is_directory(ec)) {
            if (is_atomic_temp_name(name)) continue;
            spdlog::warn("skipping {}: not a container directory", entry.path().string());
            continue;
        }
        ContainerPaths paths(entry.path());
        // A crash in write_file_atomic can leave its temp file; the real file is intact.
        for (const auto& f : fs::directory_iterator(entry.path(), ec))
            if (is_atomic_temp_name(f.path().filename().string())) fs::remove(f.path(), ec);
        if (missing_or_empty(paths.meta())) {
            // create() writes meta.json (atomically) before it spawns the monitor, so a
            // directory without one is a create the daemon died in the middle of: no process,
            // mount or cgroup was ever made for it and no client was told its id. An empty one
            // is a create whose meta.json a power loss took before its fsync: nothing of it
            // survived the power loss either. Left alone it would be listed nowhere and
            // removable by no one.
            spdlog::warn("removing {}: its creation was interrupted before meta.json was kept",
                         entry.path().string());
            fs::remove_all(entry.path(), ec);
            continue;
        }
        try {
            StoredContainer c;
            c.meta = read_meta(paths);
            if (missing_or_empty(paths.state()))
                c.incomplete = true;
            else
                c.state = read_state(paths);
            if (c.meta.id != name)
                throw invalid_argument(paths.meta() + ": id", "does not match the directory");
            out.push_back(std::move(c));
        } catch (const std::exception& e) {
            spdlog::error("skipping container {}: {}", name, e.what());
        }
    }
    return out;
}

}  // namespace truman::daemon
