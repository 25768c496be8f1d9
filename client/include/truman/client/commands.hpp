// One function per trumanctl verb: flags in, requests to trumand, output to stdout/stderr,
// the process exit code out. ApiError / ConnectionError propagate to main, which turns them
// into the one-line message and the exit code (except where a verb handles several
// containers and reports each failure itself).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "truman/client/api_client.hpp"
#include "truman/client/create_body.hpp"

namespace truman::client {

// Exit codes of trumanctl itself; run and wait otherwise exit with the container's code.
constexpr int kExitUsage = 125;       // bad flags or arguments: nothing was sent
constexpr int kExitApiError = 126;    // trumand answered with an error
constexpr int kExitConnection = 127;  // trumand could not be reached

int create_command(const ApiClient& api, const CreateOptions& options);
int run_command(const ApiClient& api, const CreateOptions& options, bool detach, bool remove);
int start_command(const ApiClient& api, const std::vector<std::string>& refs);
int wait_command(const ApiClient& api, const std::vector<std::string>& refs);
int rm_command(const ApiClient& api, const std::vector<std::string>& refs, bool force);
int kill_command(const ApiClient& api, const std::vector<std::string>& refs, int signal);
int stop_command(const ApiClient& api, const std::vector<std::string>& refs, unsigned timeout);
int ps_command(const ApiClient& api, bool all, bool quiet, bool json);
int inspect_command(const ApiClient& api, const std::vector<std::string>& refs);
int logs_command(const ApiClient& api, const std::string& ref, bool follow, const std::string& tail,
                 bool timestamps);
int events_command(const ApiClient& api, bool json);
// One line per seccomp denial: "12:00:01 pid 7 (sh) mount → EPERM"; -f follows until exit.
int denials_command(const ApiClient& api, const std::string& ref, bool follow);
// Prints the learned OCI linux.seccomp profile, for --security-opt seccomp=FILE.
int seccomp_profile_command(const ApiClient& api, const std::string& ref);
int info_command(const ApiClient& api, bool json);
int version_command(const ApiClient& api, bool json, const std::string& client_version);

// Images: pull (one line per layer event, then the image), images (a table), rmi.
int pull_command(const ApiClient& api, const std::string& ref, const std::string& platform);
// The same, writing the progress lines to progress_to (run pulls with them on stderr).
int pull_showing_progress(const ApiClient& api, const std::string& ref, const std::string& platform,
                          FILE* progress_to);
int images_command(const ApiClient& api, bool quiet, bool json);
int rmi_command(const ApiClient& api, const std::vector<std::string>& refs, bool force);
int tag_command(const ApiClient& api, const std::string& source, const std::string& target);
// login [REGISTRY] (default docker.io): trumand checks the credentials against the registry
// (with its own certs.d and insecure-registry settings, which pulls use) and keeps them in
// its auth file. The password: -p, else stdin with --password-stdin, else asked on the
// terminal (not echoed). logout [REGISTRY]: the credentials removed.
struct LoginOptions {
    std::string registry = "docker.io";
    std::string username, password;
    bool password_stdin = false;
};
int login_command(const ApiClient& api, LoginOptions options);
int logout_command(const ApiClient& api, const std::string& registry);
// image inspect REF...: GET /v1/images/{ref}'s JSON (one image: the object; several: an array).
int image_inspect_command(const ApiClient& api, const std::vector<std::string>& refs);
// import FILE|- [--tag REF]: a `docker save` or OCI layout tar (gzip or zstd too), streamed
// to trumand; prints the names of the images it held. save REF -o FILE|-: the image as an
// OCI layout tar (FILE appears only once complete).
int import_command(const ApiClient& api, const std::string& file, const std::string& tag);
int save_command(const ApiClient& api, const std::string& ref, const std::string& output);
// The line pull prints for one event of the stream, "" for none (unit tested).
std::string pull_progress_line(const nlohmann::json& event);
// exec [-d] [-e K=V]... [-w DIR] [-u USER] CONTAINER CMD...: the exec's output, and its
// exit code (with -d: its id, at once).
struct ExecOptions {
    std::string container;
    std::vector<std::string> cmd;
    std::vector<std::string> env;
    std::string cwd, user;
    bool detach = false;
    bool interactive = false;  // -i: our stdin is the command's
    bool tty = false;          // -t: a terminal of its own
};
int exec_command(const ApiClient& api, const ExecOptions& options);

// The exit code of a POST .../wait answer: the container's, 128+N when killed by signal N.
int exit_code_of(const nlohmann::json& wait_result);

// The `ps` table for a GET /v1/containers answer, seen at time now (unit tested).
std::string ps_table(const nlohmann::json& containers, std::time_t now);

}  // namespace truman::client
