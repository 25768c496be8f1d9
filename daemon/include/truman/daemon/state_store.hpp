// A container's files under <state-dir>/containers/<id>/ and how they are read and written.
//
//   config.json    the ContainerSpec as OCI JSON (what the monitor creates)
//   meta.json      id, name, image, rootfs, cmd, created_at (written once by the service)
//   state.json     status, pids, exit status, times (written by the monitor; by the service
//                  only when a monitor died without recording the exit)
//   container.log  JSON lines from the container's stdout/stderr (+ container.log.1)
//   seccomp.log    one JSON line per blocked syscall
//   seccomp-learned.json  seccomp learning mode: the syscalls seen (seccomp_learned.hpp)
//   monitor.log    the monitor's own diagnostics
//   upper/ work/ rootfs/   the overlay layer of a container made from an image
//
// Every JSON file is replaced atomically (atomic_file.hpp). Loading never throws for one bad
// container: it is logged and skipped so that one corrupt directory cannot keep trumand down.
#pragma once

#include <sys/types.h>

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "truman/daemon/service.hpp"

namespace truman::daemon {

struct ContainerMeta {
    std::string id;
    std::string name;
    std::string image;   // "" for a rootfs container
    std::string rootfs;  // the root the container sees (for an image: the overlay mount point)
    std::vector<std::string> cmd;
    std::string created_at;
    // How the monitor sets up the container's stdio (CreateRequest's flags of the same names).
    bool open_stdin = false;
    bool stdin_once = false;
    bool tty = false;
    std::map<std::string, std::string> labels{};
    std::vector<std::string> exposed_ports{};
    int stop_signal = 0;  // 0: SIGTERM
};

// state.json: the public ContainerState plus what only the daemon needs.
struct StoredState {
    ContainerState state;
    pid_t monitor_pid = 0;
    std::string reason;  // why it exited abnormally ("monitor died"), "" normally
};

// The paths of one container's directory.
class ContainerPaths {
  public:
    explicit ContainerPaths(std::string dir) : dir_(std::move(dir)) {}
    const std::string& dir() const { return dir_; }
    std::string config() const { return dir_ + "/config.json"; }
    std::string meta() const { return dir_ + "/meta.json"; }
    std::string state() const { return dir_ + "/state.json"; }
    std::string log() const { return dir_ + "/container.log"; }
    std::string seccomp_log() const { return dir_ + "/seccomp.log"; }
    std::string seccomp_learned() const { return dir_ + "/seccomp-learned.json"; }
    std::string monitor_log() const { return dir_ + "/monitor.log"; }
    std::string upper() const { return dir_ + "/upper"; }
    std::string work() const { return dir_ + "/work"; }
    std::string rootfs() const { return dir_ + "/rootfs"; }

  private:
    std::string dir_;
};

nlohmann::json meta_to_json(const ContainerMeta& meta);
ContainerMeta meta_from_json(const nlohmann::json& doc);  // throws truman::Error (invalid)
nlohmann::json state_to_json(const StoredState& state);
StoredState state_from_json(const nlohmann::json& doc);  // throws truman::Error (invalid)

// meta.json and state.json are replaced atomically (a crash of trumand or of the monitor
// leaves the old or the new record) but not fsync'd: that is on a reply's path, so the
// writers hand the paths to trumand's BatchedSync, which syncs them just after. After a
// power loss, which no container survives anyway, the newest record may be missing or (a
// first write) empty; load_containers treats both as the state before it.
void write_meta(const ContainerPaths& paths, const ContainerMeta& meta);
ContainerMeta read_meta(const ContainerPaths& paths);  // throws truman::Error
void write_state(const ContainerPaths& paths, const StoredState& state);
StoredState read_state(const ContainerPaths& paths);  // throws truman::Error

struct StoredContainer {
    ContainerMeta meta;
    StoredState state;
    // meta.json but no state.json yet: trumand died while the monitor was creating it.
    bool incomplete = false;
};

// Every valid container under containers_dir (the directory of <id>/ entries). Entries that
// are not 64-hex directories, whose meta.json is corrupt, whose state.json is corrupt, or
// whose meta names another id are logged and skipped; leftover temp files and directories
// of interrupted removals are removed. An
// <id>/ without meta.json, or with an empty one (a create interrupted before its monitor
// existed, or a power loss before meta.json reached the disk), is removed. A valid meta.json
// without a state.json, or with an empty one, is returned as incomplete.
std::vector<StoredContainer> load_containers(const std::string& containers_dir);

// Where remove() moves a container directory before deleting it ("<parent>/.removing-<id>"),
// so that nothing can create a file in it by its old path meanwhile. load_containers
// finishes the removal of any left there by a crash.
std::string removing_dir_name(const std::string& container_dir);

}  // namespace truman::daemon
