#include "truman/client/commands.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <optional>

#include "truman/client/attach.hpp"
#include "truman/client/format.hpp"
#include "truman/client/port_commands.hpp"
#include "truman/client/pull_progress.hpp"

namespace truman::client {

using nlohmann::json;

namespace {

std::string container_path(const std::string& ref) {
    return "/v1/containers/" + url_encode(ref);
}

void report(const std::exception& e) {
    std::cerr << "trumanctl: " << e.what() << std::endl;
}

// Runs fn for each container: one failure (the daemon's error) is reported and the others
// still get their turn, like docker; the exit code says something failed. A dead daemon
// (ConnectionError) stops everything.
template <typename Fn>
int for_each_ref(const std::vector<std::string>& refs, Fn&& fn) {
    int rc = 0;
    for (const auto& ref : refs) {
        try {
            fn(ref);
        } catch (const ApiError& e) {
            report(e);
            rc = kExitApiError;
        }
    }
    return rc;
}

}  // namespace

// A container killed by a signal exits like a shell reports it: 128 + the signal.
int exit_code_of(const json& wait_result) {
    int signal = wait_result.value("signal", 0);
    if (signal > 0) return 128 + signal;
    return wait_result.value("exit_code", -1) < 0 ? kExitApiError
                                                  : wait_result["exit_code"].get<int>();
}

namespace {

void write_line(FILE* to, const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), to);
    std::fputc('\n', to);
    std::fflush(to);  // followers (logs -f | grep) see each line as it comes
}

// One ndjson log record to stdout or stderr, as the container wrote it.
void print_log_record(const std::string& line, bool timestamps) {
    auto record = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!record.is_object()) return;
    std::string text = record.value("log", "");
    if (timestamps) text = record.value("time", "") + " " + text;
    write_line(record.value("stream", "stdout") == "stderr" ? stderr : stdout, text);
}

// A JSON scalar as text: strings without their quotes.
std::string text_of(const json& j) {
    return j.is_string() ? j.get<std::string>() : j.dump();
}

std::string create(const ApiClient& api, const CreateOptions& options) {
    json body = create_body(options);
    try {
        return api.call_json("POST", "/v1/containers", &body).at("id").get<std::string>();
    } catch (const ApiError& e) {
        throw in_flag_terms(e, options);
    }
}

}  // namespace

int create_command(const ApiClient& api, const CreateOptions& options) {
    std::cout << create(api, options) << std::endl;
    return 0;
}

int run_command(const ApiClient& api, const CreateOptions& options, bool detach, bool remove) {
    // Like docker run: an image trumand lacks is pulled first, its progress on stderr so
    // that stdout stays the container's.
    if (options.rootfs.empty() && !options.args.empty()) {
        const std::string& image = options.args.front();
        try {
            api.call("GET", "/v1/images/" + image);
        } catch (const ApiError& e) {
            if (e.status() != 404) throw;
            std::cerr << "Unable to find image '" << image << "' locally" << std::endl;
            if (int rc = pull_showing_progress(api, image, "", stderr); rc != 0) return rc;
        }
    }
    std::string id = create(api, options);
    std::string path = container_path(id);
    // --rm: the container goes whatever happens after create (a failed start included).
    struct Remover {
        const ApiClient& api;
        std::string path;
        bool armed;
        ~Remover() {
            if (!armed) return;
            try {
                api.call("DELETE", path + "?force=true");
            } catch (const std::exception& e) {
                report(e);
            }
        }
    } remover{api, path, remove && !detach};

    // Attached before the start, as docker run is: nothing it prints is missed, it comes as
    // written, and our signals reach it (--sig-proxy); with -i our stdin is its stdin.
    if (!detach) return run_attached(api, path, options.interactive, options.tty);
    api.call("POST", path + "/start");
    std::cout << id << std::endl;
    return 0;
}

int start_command(const ApiClient& api, const std::vector<std::string>& refs) {
    return for_each_ref(refs, [&](const std::string& ref) {
        api.call("POST", container_path(ref) + "/start");
        std::cout << ref << std::endl;
    });
}

int wait_command(const ApiClient& api, const std::vector<std::string>& refs) {
    int last = 0;
    int rc = for_each_ref(refs, [&](const std::string& ref) {
        last = exit_code_of(api.call_json("POST", container_path(ref) + "/wait"));
        std::cout << last << std::endl;
    });
    return rc != 0 ? rc : last;
}

int rm_command(const ApiClient& api, const std::vector<std::string>& refs, bool force) {
    return for_each_ref(refs, [&](const std::string& ref) {
        api.call("DELETE", container_path(ref) + (force ? "?force=true" : ""));
        std::cout << ref << std::endl;
    });
}

int kill_command(const ApiClient& api, const std::vector<std::string>& refs, int signal) {
    return for_each_ref(refs, [&](const std::string& ref) {
        api.call("POST", container_path(ref) + "/kill?signal=" + std::to_string(signal));
        std::cout << ref << std::endl;
    });
}

int stop_command(const ApiClient& api, const std::vector<std::string>& refs, unsigned timeout) {
    return for_each_ref(refs, [&](const std::string& ref) {
        api.call("POST", container_path(ref) + "/stop?timeout=" + std::to_string(timeout));
        std::cout << ref << std::endl;
    });
}

std::string ps_table(const json& containers, std::time_t now) {
    std::vector<std::vector<std::string>> rows{
        {"CONTAINER ID", "NAME", "IMAGE", "COMMAND", "STATUS", "CREATED", "PORTS"}};
    for (const auto& c : containers) {
        std::string image = c.value("image", "");
        if (image.empty()) image = c.value("rootfs", "");
        std::vector<std::string> cmd;
        if (c.contains("cmd") && c["cmd"].is_array())
            for (const auto& word : c["cmd"])
                if (word.is_string()) cmd.push_back(word.get<std::string>());
        rows.push_back({short_id(c.value("id", "")), c.value("name", ""), image,
                        quoted_command(cmd),
                        status_text(c.value("state", json::object()), now) +
                            (c.value("seccomp_denied", false) ? " (seccomp denials)" : ""),
                        time_ago(c.value("created_at", ""), now),
                        ports_text(c.value("ports", json::array()))});
    }
    return format_table(rows);
}

int ps_command(const ApiClient& api, bool all, bool quiet, bool as_json) {
    json list = api.call_json("GET", all ? "/v1/containers" : "/v1/containers?state=running");
    if (as_json) {
        std::cout << list.dump(2) << std::endl;
    } else if (quiet) {
        for (const auto& c : list) std::cout << short_id(c.value("id", "")) << "\n";
    } else {
        std::cout << ps_table(list, std::time(nullptr));
    }
    return 0;
}

int inspect_command(const ApiClient& api, const std::vector<std::string>& refs) {
    json found = json::array();
    int rc = for_each_ref(refs, [&](const std::string& ref) {
        found.push_back(api.call_json("GET", container_path(ref)));
    });
    // One container: its object (`| jq .state.status`); several: an array of them.
    if (refs.size() == 1) {
        if (!found.empty()) std::cout << found[0].dump(2) << std::endl;
    } else {
        std::cout << found.dump(2) << std::endl;
    }
    return rc;
}

int logs_command(const ApiClient& api, const std::string& ref, bool follow, const std::string& tail,
                 bool timestamps) {
    std::string target = container_path(ref) + "/logs?format=json";
    if (follow) target += "&follow=true";
    if (tail != "all") target += "&tail=" + url_encode(tail);
    api.stream_lines(target,
                     [timestamps](const std::string& line) { print_log_record(line, timestamps); });
    return 0;
}

int denials_command(const ApiClient& api, const std::string& ref, bool follow) {
    std::string target = container_path(ref) + "/seccomp";
    if (follow) target += "?follow=true";
    api.stream_lines(target, [](const std::string& line) {
        auto record = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (record.is_object()) write_line(stdout, denial_text(record));
    });
    return 0;
}

int seccomp_profile_command(const ApiClient& api, const std::string& ref) {
    std::cout << api.call_json("GET", container_path(ref) + "/seccomp/profile").dump(2)
              << std::endl;
    return 0;
}

int events_command(const ApiClient& api, bool as_json) {
    api.stream_lines("/v1/events", [as_json](const std::string& line) {
        if (as_json) return write_line(stdout, line);
        auto e = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (!e.is_object()) return;
        std::string text = e.value("time", "") + " " + e.value("type", "") + " " +
                           e.value("id", "") + " (name=" + e.value("name", "");
        if (e.contains("exit_code") && e["exit_code"].is_number_integer())
            text += ", exit_code=" + std::to_string(e["exit_code"].get<int>());
        write_line(stdout, text + ")");
    });
    return 0;
}

int info_command(const ApiClient& api, bool as_json) {
    json info = api.call_json("GET", "/v1/info");
    if (as_json) {
        std::cout << info.dump(2) << std::endl;
        return 0;
    }
    json counts = info.value("containers", json::object());
    auto count = [&](const char* key) { return counts.value(key, 0); };
    std::cout << "Server Version: " << info.value("version", "") << "\n"
              << "API Version: " << text_of(info.value("api_version", json())) << "\n"
              << "Kernel: " << info.value("kernel", "") << "\n"
              << "Cgroup Mode: " << info.value("cgroup_mode", "") << "\n"
              << "Containers: " << count("created") + count("running") + count("exited") << "\n"
              << " Running: " << count("running") << "\n"
              << " Created: " << count("created") << "\n"
              << " Exited: " << count("exited") << "\n"
              << "Socket: " << api.socket_path() << std::endl;
    return 0;
}

int version_command(const ApiClient& api, bool as_json, const std::string& client_version) {
    if (!as_json) std::cout << "Client: trumanctl " << client_version << std::endl;
    json version = api.call_json("GET", "/v1/version");
    if (as_json) {
        std::cout << version.dump(2) << std::endl;
    } else {
        std::cout << "Server: trumand " << version.value("version", "") << " (API "
                  << text_of(version.value("api_version", json())) << ")" << std::endl;
    }
    return 0;
}

std::string pull_progress_line(const json& event) {
    if (!event.is_object()) return "";
    std::string status = event.value("status", "");
    if (status == "pulled" && event.contains("image") && event["image"].is_object())
        return "pulled " + event["image"].value("id", "");
    if (!event.contains("layer") || !event["layer"].is_string()) return "";
    std::string layer = event["layer"].get<std::string>();
    std::string short_id = layer.substr(layer.find(':') + 1, 12);
    if (status == "downloading")
        return short_id + ": downloading " + std::to_string(event.value("done", uint64_t{0})) +
               "/" + std::to_string(event.value("total", uint64_t{0})) + " bytes";
    return short_id + ": " + status;
}

int pull_command(const ApiClient& api, const std::string& ref, const std::string& platform) {
    return pull_showing_progress(api, ref, platform, stdout);
}

int pull_showing_progress(const ApiClient& api, const std::string& ref, const std::string& platform,
                          FILE* progress_to) {
    std::string target = "/v1/images/pull?ref=" + url_encode(ref);
    if (!platform.empty()) target += "&platform=" + url_encode(platform);
    int rc = 0;
    // A terminal gets docker's redrawn bars; a pipe or a file the plain lines.
    std::optional<PullProgressBoard> board;
    if (isatty(fileno(progress_to))) {
        winsize size{};
        board.emplace(ioctl(fileno(progress_to), TIOCGWINSZ, &size) == 0 && size.ws_col > 0
                          ? size.ws_col
                          : 80);
    }
    api.stream_lines(
        target,
        [&](const std::string& line) {
            auto event = json::parse(line, nullptr, /*allow_exceptions=*/false);
            if (event.is_object() && event.value("status", "") == "failed") {
                std::string message = event.contains("error") && event["error"].is_object()
                                          ? event["error"].value("message", "")
                                          : "";
                std::cerr << "trumanctl: pull " << ref << ": " << message << std::endl;
                rc = kExitApiError;
                return;
            }
            if (board) {
                std::string drawn = board->update(event);
                std::fwrite(drawn.data(), 1, drawn.size(), progress_to);
                std::fflush(progress_to);
                return;
            }
            std::string text = pull_progress_line(event);
            if (!text.empty()) write_line(progress_to, text);
        },
        "POST");
    return rc;
}

int images_command(const ApiClient& api, bool quiet, bool as_json) {
    json images = api.call_json("GET", "/v1/images");
    if (as_json) {
        std::cout << images.dump(2) << std::endl;
        return 0;
    }
    if (!quiet) std::printf("%-60s %-19s %s\n", "REFERENCE", "IMAGE ID", "SIZE");
    for (const auto& image : images) {
        std::string id = image.value("id", "");
        std::string short_id = id.substr(id.find(':') + 1, 12);
        if (quiet) {
            std::cout << short_id << "\n";
            continue;
        }
        for (const auto& tag : image.value("tags", json::array()))
            std::printf("%-60s %-19s %.1f MB\n", tag.get<std::string>().c_str(), short_id.c_str(),
                        static_cast<double>(image.value("size", uint64_t{0})) / 1e6);
    }
    std::cout << std::flush;
    return 0;
}

int import_command(const ApiClient& api, const std::string& file, const std::string& tag) {
    int fd = file == "-" ? STDIN_FILENO : ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        std::cerr << "trumanctl: import: " << file << ": " << std::strerror(errno) << std::endl;
        return kExitUsage;
    }
    std::string read_error;
    std::string target = "/v1/images/import";
    if (!tag.empty()) target += "?tag=" + url_encode(tag);
    std::string body;
    try {
        body = api.upload("POST", target, "application/x-tar", [&](char* buf, size_t size) {
            for (;;) {
                ssize_t n = ::read(fd, buf, size);
                if (n >= 0) return static_cast<size_t>(n);
                if (errno == EINTR) continue;
                // Ending the body early makes a broken archive, which trumand refuses.
                read_error = std::strerror(errno);
                return size_t{0};
            }
        });
    } catch (...) {
        if (fd != STDIN_FILENO) ::close(fd);
        throw;
    }
    if (fd != STDIN_FILENO) ::close(fd);
    if (!read_error.empty()) {
        std::cerr << "trumanctl: import: reading " << file << ": " << read_error << std::endl;
        return kExitUsage;
    }
    json answer = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (answer.is_object() && answer.contains("images") && answer["images"].is_array())
        for (const auto& image : answer["images"])
            for (const auto& name : image.value("tags", json::array()))
                std::cout << "imported " << name.get<std::string>() << " (" << image.value("id", "")
                          << ")\n";
    std::cout << std::flush;
    return 0;
}

int save_command(const ApiClient& api, const std::string& ref, const std::string& output) {
    bool to_stdout = output.empty() || output == "-";
    if (to_stdout && isatty(STDOUT_FILENO)) {
        std::cerr << "trumanctl: save: refusing to write a tar to a terminal: use -o FILE"
                  << std::endl;
        return kExitUsage;
    }
    // Into a temp file beside FILE, renamed once the tar is complete: a cut stream never
    // leaves a FILE that looks whole.
    std::string temp = output + ".partial-XXXXXX";
    int fd = STDOUT_FILENO;
    if (!to_stdout) {
        fd = mkostemp(temp.data(), O_CLOEXEC);
        if (fd < 0) {
            std::cerr << "trumanctl: save: " << temp << ": " << std::strerror(errno) << std::endl;
            return kExitUsage;
        }
    }
    auto fail = [&] {
        if (!to_stdout) {
            ::close(fd);
            ::unlink(temp.c_str());
        }
    };
    std::string write_error;
    try {
        api.stream("/v1/images/" + ref + "/export", [&](std::string_view data) {
            while (!data.empty() && write_error.empty()) {
                ssize_t n = ::write(fd, data.data(), data.size());
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) write_error = std::strerror(errno);
                if (n > 0) data.remove_prefix(static_cast<size_t>(n));
            }
        });
    } catch (...) {
        fail();
        throw;
    }
    if (write_error.empty() && !to_stdout && ::fsync(fd) < 0) write_error = std::strerror(errno);
    if (!write_error.empty()) {
        std::cerr << "trumanctl: save: writing " << (to_stdout ? "stdout" : output) << ": "
                  << write_error << std::endl;
        fail();
        return kExitUsage;
    }
    if (!to_stdout) {
        ::close(fd);
        if (::rename(temp.c_str(), output.c_str()) < 0) {
            std::cerr << "trumanctl: save: " << output << ": " << std::strerror(errno) << std::endl;
            ::unlink(temp.c_str());
            return kExitUsage;
        }
    }
    return 0;
}

int tag_command(const ApiClient& api, const std::string& source, const std::string& target) {
    api.call("POST", "/v1/images/" + source + "/tag?tag=" + url_encode(target));
    return 0;
}

namespace {

// A line from stdin; on a terminal without echo (the prompt on stderr).
std::string read_secret_line(const char* prompt) {
    struct termios old_mode {};
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old_mode) == 0;
    if (tty) {
        std::cerr << prompt << std::flush;
        struct termios quiet = old_mode;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    std::string line;
    std::getline(std::cin, line);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old_mode);
        std::cerr << std::endl;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

}  // namespace

int login_command(const ApiClient& api, LoginOptions options) {
    if (options.username.empty()) throw std::invalid_argument("login: --username is required");
    if (options.password_stdin && !options.password.empty())
        throw std::invalid_argument("login: --password and --password-stdin exclude each other");
    if (options.password.empty()) {
        if (!options.password_stdin && !isatty(STDIN_FILENO))
            throw std::invalid_argument(
                "login: no terminal to ask for the password on: use --password-stdin");
        options.password = read_secret_line("Password: ");
    }
    json body = {{"registry", options.registry},
                 {"username", options.username},
                 {"password", options.password}};
    api.call("POST", "/v1/auth", &body);
    std::cout << "Login Succeeded" << std::endl;
    return 0;
}

int logout_command(const ApiClient& api, const std::string& registry) {
    api.call("DELETE", "/v1/auth/" + registry);
    std::cout << "Removing login credentials for " << registry << std::endl;
    return 0;
}

int image_inspect_command(const ApiClient& api, const std::vector<std::string>& refs) {
    json found = json::array();
    int rc = for_each_ref(refs, [&](const std::string& ref) {
        found.push_back(api.call_json("GET", "/v1/images/" + ref));
    });
    if (refs.size() == 1) {
        if (!found.empty()) std::cout << found[0].dump(2) << std::endl;
    } else {
        std::cout << found.dump(2) << std::endl;
    }
    return rc;
}

int rmi_command(const ApiClient& api, const std::vector<std::string>& refs, bool force) {
    return for_each_ref(refs, [&](const std::string& ref) {
        api.call("DELETE", "/v1/images/" + ref + (force ? "?force=true" : ""));
        std::cout << ref << std::endl;
    });
}

}  // namespace truman::client
