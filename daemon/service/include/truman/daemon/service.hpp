// The container service: everything trumand does, with no knowledge of HTTP. The API layer
// (api/) maps requests onto these calls; a second front-end could reuse them untouched.
// This header, with subscription.hpp and container_name.hpp, is the service's interface
// (the truman_service library): front-ends depend on it, never on the implementation in
// daemon/ (truman_daemon, made by make_service.hpp), which only the composition root sees.
//
// Threading: the service is safe to call from several threads. Calls that can take long
// (wait, following logs, events) never block: they take a callback that is invoked later on
// the service's io_context.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "truman/daemon/network_service.hpp"
#include "truman/daemon/subscription.hpp"
#include "truman/fd.hpp"
#include "truman/spec.hpp"

namespace truman::daemon {

enum class Status { created, running, exited };
// The names of the states, "created", "running", "exited": the API's and state.json's.
const char* to_string(Status status) noexcept;
std::optional<Status> status_from_string(const std::string& name);

struct ContainerState {
    Status status = Status::created;
    pid_t pid = 0;                 // host PID of the container's init (0 once exited)
    std::optional<int> exit_code;  // set once exited
    int signal = 0;                // the signal that killed it, 0 if it exited
    bool oom_killed = false;
    std::string started_at;  // RFC 3339 UTC with nanoseconds, "" if never
    std::string finished_at;
};

struct ContainerInfo {
    std::string id;  // 64 hex characters
    std::string name;
    std::string image;  // "" when created from a rootfs
    std::string rootfs;
    std::vector<std::string> cmd;
    std::string created_at;
    ContainerState state;
    std::vector<ContainerEndpoint> networks;  // its addresses on named networks
    std::vector<PortMapping> ports;           // its published ports, as chosen
    bool seccomp_denied = false;  // its seccomp profile has denied a call (list and inspect)
    std::map<std::string, uint64_t> seccomp_denials;  // by syscall name, filled by inspect
    // The image config's Labels under the create request's; its ExposedPorts ("80/tcp");
    // the signal stop sends first (the image's StopSignal, else SIGTERM).
    std::map<std::string, std::string> labels;
    std::vector<std::string> exposed_ports;
    int stop_signal = SIGTERM;
};

struct CreateRequest {
    std::optional<std::string> name;  // generated when absent
    std::string image;                // exactly one of image / spec.root.path
    ContainerSpec spec;               // process, hostname, namespaces, resources, security...

    // A container from an image takes the image config's defaults, by Docker's rules, for
    // what the caller did not choose: spec.process.args replaces Cmd; an entrypoint replaces
    // Entrypoint and clears Cmd; WorkingDir and User apply unless cwd and user were chosen;
    // spec.process.env is merged by name over the image's Env. Everything counts as chosen
    // unless a front-end says otherwise.
    struct Chosen {
        bool args = true;
        bool cwd = true;
        bool user = true;
    } chosen;
    std::optional<std::vector<std::string>> entrypoint;  // runs before args
    // "user", "uid", "user:group", "uid:gid"...: resolved through the root's own /etc/passwd
    // and /etc/group, replacing spec.process.user; "" keeps spec.process.user.
    std::string user;
    // Named networks to join (network_service.hpp has the model). nullopt: the daemon's
    // default network, if it has one and the spec asks for nothing else; empty: none.
    std::optional<std::vector<NetworkAttachRequest>> networks;
    // Docker's stdio flags: open_stdin gives the container a stdin pipe that attached clients
    // write to (else /dev/null); stdin_once closes it when the first attached client's input
    // ends; tty gives it a terminal (a pty of its own devpts) as stdio instead of pipes.
    bool open_stdin = false;
    bool stdin_once = false;
    bool tty = false;
    // Published on the first of those networks (network_service.hpp, ports.hpp).
    std::vector<PortMapping> ports;
    // /etc/resolv.conf and the extra lines of /etc/hosts of a container with a network
    // namespace of its own.
    NameOptions names;
    // Over the image config's Labels, by name.
    std::map<std::string, std::string> labels;
};

struct LogOptions {
    bool follow = false;
    std::optional<size_t> tail;  // last N lines
    bool timestamps = false;
    bool stdout_stream = true;
    bool stderr_stream = true;
};

struct LogLine {
    std::string stream;  // "stdout" or "stderr"
    std::string time;    // RFC 3339
    std::string text;    // without the trailing newline
};

// One line of a container's seccomp log: a system call its seccomp profile denied, or (when
// dropped > 0) a note that the log's size cap discarded that many older denials.
struct SeccompRecord {
    std::string time;            // RFC 3339
    pid_t pid = 0;               // as the container sees it (0 if unknown)
    pid_t host_pid = 0;          // as the host sees it
    std::string comm;            // the caller's command name, "" if unknown
    std::string syscall;         // "mount"; "unknown" for a kill seen only in the wait status
    int nr = -1;                 // the caller's architecture's number, -1 if unknown
    std::string arch;            // "x86_64", "" if unknown
    std::string action;          // "errno" (answered), "kill" (the container's init died of SIGSYS)
    std::string error;           // "EPERM" for an errno action, "" otherwise
    std::vector<uint64_t> args;  // the six raw arguments (pointers are the caller's addresses)
    uint64_t dropped = 0;        // a drop note: denials discarded so far
    std::map<std::string, uint64_t> dropped_by_syscall;  // ... by syscall name
};

struct SeccompOptions {
    bool follow = false;
    std::optional<size_t> tail;  // the last N denials
    std::string since;           // only denials at or after: RFC 3339 or Unix seconds; "" = all
};

struct Event {
    std::string time;
    std::string type;  // "create", "start", "die", "oom", "kill", "destroy", "seccomp"
    std::string id;
    std::string name;
    std::optional<int> exit_code;
    // "seccomp": the denied call, as in SeccompRecord, and how many denials of this
    // container were held back (rate limit) since the previous seccomp event.
    std::string syscall{};
    pid_t pid = 0;
    std::string error{};
    uint64_t suppressed = 0;
};

// An image in the store: its manifest and config digests, the references that name it, and
// the defaults its config gives a container (what `docker image inspect` shows).
struct ImageInfo {
    std::string id;  // the config's digest, as Docker names an image
    std::string manifest_digest;
    std::vector<std::string> tags;  // normalised references ("docker.io/library/busybox:latest")
    std::vector<std::string> repo_digests;  // name@manifest_digest, one per repository tagged
    std::string created;                    // the config's, RFC 3339; "" when it has none
    uint64_t size = 0;                      // the layers' compressed bytes
    size_t layers = 0;
    std::vector<std::string> diff_ids;  // the config's rootfs.diff_ids, bottom-most first
    std::string os, architecture, variant;
    std::vector<std::string> entrypoint, cmd, env;
    std::string working_dir, user, stop_signal;
    std::vector<std::string> exposed_ports;  // "80/tcp"
    std::map<std::string, std::string> labels;
};

// Bytes for an import: fills buf with up to size bytes, returns how many, 0 at the end.
using ImageSource = std::function<size_t(void* buf, size_t size)>;
using ImageSink = std::function<void(const void* data, size_t size)>;
using ImageExporter = std::function<void(const ImageSink& sink)>;

struct LoginRequest {
    std::string registry;  // "host[:port]" as image references name it; "docker.io"
    std::string username, password;
};

struct PullRequest {
    std::string ref;       // "alpine", "127.0.0.1:5000/app:1", "app@sha256:..."
    std::string platform;  // "os/arch[/variant]"; "" = linux/amd64
};

// Per layer, as a pull goes: "waiting", "downloading" (bytes done of total), "exists" (the
// store had it), "unpacked" (downloaded, verified by both digests and in the store).
struct PullProgressEvent {
    std::string layer;  // the layer's digest
    std::string status;
    uint64_t done = 0, total = 0;
};

struct DaemonInfo {
    std::string kernel;
    std::string cgroup_mode;  // "v1" or "v2"
    size_t created = 0, running = 0, exited = 0;
    // Directories of removed containers not yet deleted from disk: delete answers once the
    // container is unreachable and removes its files after the reply.
    size_t pending_cleanup = 0;
};

// exec: a second process in a running container.
struct ExecRequest {
    std::vector<std::string> cmd;    // not empty
    std::vector<std::string> env;    // KEY=VALUE, over the container's
    std::optional<std::string> cwd;  // default: the container's
    std::optional<User> user;        // default: the container's
    bool tty = false;                // a terminal of its own (a pty of the container's devpts)
    bool attach_stdin = false;       // a pipe an attached start writes to; else /dev/null
};

// An attach to a container's stdio (or an exec's, through an attached start): which streams,
// the bytes that end it leaving the container running ("" = none), and the bytes the client
// sent already, behind the request (they go to the process's stdin first).
struct AttachRequest {
    bool stdin_stream = false;
    bool stdout_stream = true;
    bool stderr_stream = true;
    std::string detach_keys;  // raw bytes (detach_keys.hpp parses Docker's notation)
    std::string input;
    // Written to the connection first, once the monitor holds it and before any output (the
    // API's "101 UPGRADED"): a client that sees it misses nothing the process writes after.
    std::string handshake = {};
    // The container's log so far first (its streams that were asked for), then the live
    // output: no gap, no line twice.
    bool logs = false;
};

struct ExecInfo {
    std::string id;  // 64 hex characters
    std::string container_id;
    std::vector<std::string> cmd;
    bool tty = false;  // it has a terminal: an attached start carries raw bytes
    bool running = false;
    pid_t pid = 0;                 // host PID once started (kept after the exit)
    std::optional<int> exit_code;  // set once exited
    int signal = 0;
};

class ContainerService {
  public:
    virtual ~ContainerService() = default;

    // All calls throw truman::Error; kind says what it was (not_found, conflict, invalid...).
    virtual std::string create(const CreateRequest& request) = 0;  // -> id
    virtual std::vector<ContainerInfo> list(std::optional<Status> filter) = 0;
    virtual ContainerInfo inspect(const std::string& ref) = 0;  // id, prefix >= 4, name
    virtual void start(const std::string& ref) = 0;
    virtual void kill(const std::string& ref, int signal) = 0;
    // signal (0: the container's stop_signal), then SIGKILL after timeout; the callback runs
    // once it has exited. (async_stop and async_wait never throw: every error, an unknown ref
    // included, goes to the callback. Stopping a container that is not running succeeds at once.)
    virtual void async_stop(const std::string& ref, std::chrono::seconds timeout, int signal,
                            std::function<void(std::exception_ptr)> done) = 0;
    virtual void remove(const std::string& ref, bool force) = 0;
    // Calls done once the container has exited (at once if it already has).
    virtual void async_wait(const std::string& ref,
                            std::function<void(std::exception_ptr, ContainerState)> done) = 0;
    // Delivers log lines in order; then, unless following, calls end. When following,
    // end runs after the container has exited and every line was delivered.
    virtual std::unique_ptr<Subscription> logs(const std::string& ref, const LogOptions& options,
                                               std::function<void(const LogLine&)> on_line,
                                               std::function<void()> on_end) = 0;
    virtual std::unique_ptr<Subscription> events(std::function<void(const Event&)> on_event) = 0;
    virtual DaemonInfo info() = 0;

    // exec. create_exec: the container must be running (conflict otherwise) -> exec id.
    // start_exec returns once the process runs (conflict if started before); its output is
    // kept as Docker stream frames (exec_output) and its exit recorded by the container's
    // monitor, so inspect_exec knows it after a trumand restart too. async_wait_exec calls
    // done once it has exited (on the io_context; never throws). async_run_exec is start_exec
    // then async_wait_exec in one step (one round trip to the monitor).
    virtual std::string create_exec(const std::string& ref, const ExecRequest& request);
    virtual ExecInfo start_exec(const std::string& exec_id);
    virtual void async_run_exec(const std::string& exec_id,
                                std::function<void(std::exception_ptr, ExecInfo)> done);
    virtual ExecInfo inspect_exec(const std::string& exec_id);
    virtual void async_wait_exec(const std::string& exec_id,
                                 std::function<void(std::exception_ptr, ExecInfo)> done);
    virtual std::string exec_output(const std::string& exec_id);
    // Attach: the connection (an upgraded client socket) goes to the container's monitor,
    // which carries the streams (Docker's frames, stream_frame.hpp) until the container exits
    // or the client detaches or leaves; the call returns once the monitor holds it, and has
    // written request.handshake to it. It throws only when the monitor did not take the
    // connection (nothing was written to it then). The container must exist and not have
    // exited (conflict). check_attach says so beforehand, cheaply, and whether the container
    // has a terminal (its stream is then raw bytes, not frames).
    virtual bool check_attach(const std::string& ref);
    // The window size of the terminal of a running container, or of a running exec: height
    // and width in 1..65535 (else invalid); conflict if it has no terminal or does not run.
    virtual void resize(const std::string& ref, unsigned height, unsigned width);
    virtual void resize_exec(const std::string& exec_id, unsigned height, unsigned width);
    virtual void attach(const std::string& ref, const AttachRequest& request, Fd connection);
    // start_exec with the exec's streams on connection, as attach carries a container's:
    // returns once the exec runs and the monitor holds the connection (and has written
    // request.handshake to it). Like attach, it throws only while nothing was written to the
    // connection; its state is then GET /v1/exec/{id}'s to tell.
    virtual void start_exec_attached(const std::string& exec_id, const AttachRequest& request,
                                     Fd connection);
    // The container's seccomp denials, oldest first, as seccomp_log.hpp keeps them; like logs()
    // otherwise. A bad since is Error invalid naming "since".
    virtual std::unique_ptr<Subscription> seccomp(
        const std::string& ref, const SeccompOptions& options,
        std::function<void(const SeccompRecord&)> on_record, std::function<void()> on_end) = 0;
    // The OCI linux.seccomp allowlist learned from a container created in seccomp learning
    // mode (learned_seccomp_profile() over what its monitor saw): not_found for an unknown
    // container, conflict for one not created with learn.
    virtual Seccomp seccomp_profile(const std::string& ref);
    // The networks this service manages; nullptr when it has none (/v1/networks: 400).
    virtual NetworkService* network_service() { return nullptr; }
    // Images. The defaults say "not supported", so that a front-end's test double need not
    // know them. A pull validates ref and platform at once (throwing), then runs away from
    // the io threads; progress and done run on the io_context; done gets the image.
    virtual void async_pull_image(const PullRequest& request,
                                  std::function<void(const PullProgressEvent&)> on_progress,
                                  std::function<void(std::exception_ptr, ImageInfo)> done);
    virtual std::vector<ImageInfo> list_images();
    virtual ImageInfo inspect_image(const std::string& ref);
    // 409 (conflict) while a container uses it, unless forced: then only the tag goes, and
    // the layers stay while a container uses them. Unreferenced layers and blobs are deleted.
    virtual void remove_image(const std::string& ref, bool force);
    // One more name for the image ref names (not_found without it); a tag already naming
    // another image is moved, as docker tag does. Returns the image, tags included.
    virtual ImageInfo tag_image(const std::string& ref, const std::string& new_ref);
    // Import every image of a `docker save` archive or an OCI image layout tar that source
    // gives (fills a buffer, 0 at the end; blocks: call it off the io threads), tagging each
    // as the archive names it, or as tag when it names none. Every blob is checked by its
    // digest and every layer by its diffID; on error nothing new is tagged or kept.
    virtual std::vector<ImageInfo> import_images(const ImageSource& source, const std::string& tag);
    // The OCI layout tar of the image ref names (not_found without it): checked now, written
    // by the returned function (blocking) to its sink.
    virtual ImageExporter export_image(const std::string& ref);
    // Registry credentials for pulls: checked against the registry first (GET /v2/ as a pull
    // would reach it; invalid with EACCES when refused), then kept in the auth file pulls
    // read. Blocks on the network: call it off the io threads. logout: not_found when the
    // auth file has nothing for registry.
    virtual void login_registry(const LoginRequest& request);
    virtual void logout_registry(const std::string& registry);
};

}  // namespace truman::daemon
