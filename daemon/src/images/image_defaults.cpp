#include "truman/daemon/images/image_defaults.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman::daemon::images {

namespace {

constexpr const char* kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr uint32_t kMaxId = 4294967294u;  // (uid_t)-1 means "no change" to the kernel

std::optional<uint32_t> parse_id(const std::string& text) {
    if (text.empty() || text.size() > 10 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    uint64_t v = std::stoull(text);
    if (v > kMaxId) return std::nullopt;
    return static_cast<uint32_t>(v);
}

// name:x:id:... lines; the fields of the first line whose field[key] equals value.
std::optional<std::vector<std::string>> find_line(const std::optional<std::string>& file,
                                                  size_t key, const std::string& value) {
    if (!file) return std::nullopt;
    std::istringstream lines(*file);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> fields;
        std::istringstream parts(line);
        for (std::string f; std::getline(parts, f, ':');) fields.push_back(f);
        if (fields.size() > key && fields[key] == value) return fields;
    }
    return std::nullopt;
}

std::string env_name(const std::string& var) {
    return var.substr(0, var.find('='));
}

}  // namespace

std::optional<std::string> read_layered_file(const std::vector<std::string>& layers_top_first,
                                             const std::string& path, size_t max_bytes) {
    for (const std::string& layer : layers_top_first) {
        Fd root(open(layer.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!root) throw system_error("open layer " + layer);
        open_how how{};
        how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
        how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
        Fd fd(static_cast<int>(::syscall(SYS_openat2, root.get(), path.c_str(), &how, sizeof how)));
        if (!fd) {
            if (errno == ENOENT || errno == ENOTDIR) continue;
            // A whiteout is a 0:0 character device: opening it fails, but it hides the file.
            if (errno == ENXIO || errno == ENODEV) return std::nullopt;
            std::string what = "open " + path;
            what += " in layer ";
            what += layer;
            throw system_error(what);
        }
        struct stat st {};
        if (fstat(fd.get(), &st) < 0) throw system_error("stat " + path);
        if (S_ISCHR(st.st_mode) && st.st_rdev == 0) return std::nullopt;
        if (!S_ISREG(st.st_mode)) return std::nullopt;
        std::string out;
        char buf[8192];
        for (;;) {
            ssize_t n = ::read(fd.get(), buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw system_error("read " + path);
            }
            if (n == 0) break;
            out.append(buf, static_cast<size_t>(n));
            if (out.size() > max_bytes)
                throw make_error(ErrorKind::invalid, "image: " + path + " is larger than " +
                                                         std::to_string(max_bytes) + " bytes");
        }
        return out;
    }
    return std::nullopt;
}

User resolve_user(const std::string& text, const std::vector<std::string>& layers_top_first) {
    size_t colon = text.find(':');
    std::string user = text.substr(0, colon);
    std::optional<std::string> group;
    if (colon != std::string::npos) group = text.substr(colon + 1);
    if (user.empty() || (group && (group->empty() || group->find(':') != std::string::npos)))
        throw invalid_argument("user", "\"" + text + "\" is not user[:group]");
    std::optional<std::string> passwd, groups;
    auto load = [&] {
        if (!passwd) passwd = read_layered_file(layers_top_first, "etc/passwd").value_or("");
        if (!groups) groups = read_layered_file(layers_top_first, "etc/group").value_or("");
    };
    User u;
    std::string name;
    if (auto id = parse_id(user)) {
        u.uid = *id;
        load();
        if (auto line = find_line(passwd, 2, user); line && line->size() > 3) {
            name = (*line)[0];
            u.gid = parse_id((*line)[3]).value_or(0);
        }
    } else {
        if (user[0] == '-') throw invalid_argument("user", "\"" + text + "\" is not user[:group]");
        load();
        auto line = find_line(passwd, 0, user);
        if (!line || line->size() < 4 || !parse_id((*line)[2]) || !parse_id((*line)[3]))
            throw invalid_argument("user", "no user \"" + user + "\" in the image's /etc/passwd");
        name = user;
        u.uid = *parse_id((*line)[2]);
        u.gid = *parse_id((*line)[3]);
    }
    if (group) {
        if (auto id = parse_id(*group)) {
            u.gid = *id;
        } else {
            load();
            auto line = find_line(groups, 0, *group);
            if (!line || line->size() < 3 || !parse_id((*line)[2]))
                throw invalid_argument("user",
                                       "no group \"" + *group + "\" in the image's /etc/group");
            u.gid = *parse_id((*line)[2]);
        }
    }
    // Like Docker: the groups that list the user as a member are its supplementary groups.
    if (!name.empty() && groups) {
        std::istringstream lines(*groups);
        for (std::string line; std::getline(lines, line);) {
            std::vector<std::string> fields;
            std::istringstream parts(line);
            for (std::string f; std::getline(parts, f, ':');) fields.push_back(f);
            if (fields.size() < 4) continue;
            auto gid = parse_id(fields[2]);
            if (!gid || *gid == u.gid) continue;
            std::istringstream members(fields[3]);
            for (std::string m; std::getline(members, m, ',');)
                if (m == name) u.additional_gids.push_back(*gid);
        }
    }
    return u;
}

Process process_from_image(const ImageConfig& config, const CreateRequest& request,
                           const std::vector<std::string>& layers_top_first) {
    Process p = request.spec.process;
    std::vector<std::string> args = request.entrypoint ? *request.entrypoint : config.entrypoint;
    if (request.chosen.args) {
        args.insert(args.end(), p.args.begin(), p.args.end());
    } else if (!request.entrypoint) {
        args.insert(args.end(), config.cmd.begin(), config.cmd.end());
    }
    if (args.empty())
        throw invalid_argument("cmd", "the image has no Entrypoint or Cmd: give a cmd");
    p.args = std::move(args);

    std::vector<std::string> env = config.env;
    for (const std::string& var : p.env) {
        std::string name = env_name(var);
        std::erase_if(env, [&](const std::string& e) { return env_name(e) == name; });
        env.push_back(var);
    }
    if (std::none_of(env.begin(), env.end(), [](const auto& e) { return env_name(e) == "PATH"; }))
        env.insert(env.begin(), kDefaultPath);
    p.env = std::move(env);

    if (!request.chosen.cwd && !config.working_dir.empty())
        p.cwd = config.working_dir[0] == '/' ? config.working_dir : "/" + config.working_dir;

    std::string user = request.user;
    if (user.empty() && !request.chosen.user) user = config.user;
    if (!user.empty()) {
        User resolved = resolve_user(user, layers_top_first);
        resolved.umask = p.user.umask;
        p.user = resolved;
    }
    return p;
}

}  // namespace truman::daemon::images
