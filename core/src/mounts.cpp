#include "truman/mounts.hpp"

#include <sys/mount.h>

#include <filesystem>
#include <map>

#include "truman/error.hpp"

namespace truman {

void set_propagation(const std::string& path, Propagation propagation, bool recursive) {
    unsigned long flags = 0;
    const char* name = "";
    switch (propagation) {
        case Propagation::private_:
            flags = MS_PRIVATE;
            name = "private";
            break;
        case Propagation::slave:
            flags = MS_SLAVE;
            name = "slave";
            break;
        case Propagation::shared:
            flags = MS_SHARED;
            name = "shared";
            break;
        case Propagation::unbindable:
            flags = MS_UNBINDABLE;
            name = "unbindable";
            break;
    }
    if (recursive) flags |= MS_REC;
    if (::mount(nullptr, path.c_str(), nullptr, flags, nullptr) != 0)
        throw system_error(std::string("make ") + path + " " + (recursive ? "r" : "") + name);
}

unsigned long propagation_flags(const std::string& name) {
    static const std::map<std::string, unsigned long> table = {
        {"", 0},
        {"private", MS_PRIVATE},
        {"rprivate", MS_PRIVATE | MS_REC},
        {"slave", MS_SLAVE},
        {"rslave", MS_SLAVE | MS_REC},
        {"shared", MS_SHARED},
        {"rshared", MS_SHARED | MS_REC},
        {"unbindable", MS_UNBINDABLE},
        {"runbindable", MS_UNBINDABLE | MS_REC},
    };
    auto it = table.find(name);
    if (it == table.end())
        throw invalid_argument("linux.rootfsPropagation", "unknown propagation \"" + name + "\"");
    return it->second;
}

MountOptions parse_mount_options(const std::vector<std::string>& options) {
    struct Flag {
        bool clear;
        unsigned long flag;
    };
    static const std::map<std::string, Flag> flags = {
        {"ro", {false, MS_RDONLY}},          {"rw", {true, MS_RDONLY}},
        {"nosuid", {false, MS_NOSUID}},      {"suid", {true, MS_NOSUID}},
        {"nodev", {false, MS_NODEV}},        {"dev", {true, MS_NODEV}},
        {"noexec", {false, MS_NOEXEC}},      {"exec", {true, MS_NOEXEC}},
        {"sync", {false, MS_SYNCHRONOUS}},   {"async", {true, MS_SYNCHRONOUS}},
        {"dirsync", {false, MS_DIRSYNC}},    {"mand", {false, MS_MANDLOCK}},
        {"nomand", {true, MS_MANDLOCK}},     {"noatime", {false, MS_NOATIME}},
        {"atime", {true, MS_NOATIME}},       {"nodiratime", {false, MS_NODIRATIME}},
        {"diratime", {true, MS_NODIRATIME}}, {"relatime", {false, MS_RELATIME}},
        {"norelatime", {true, MS_RELATIME}}, {"strictatime", {false, MS_STRICTATIME}},
    };
    MountOptions out;
    for (const auto& option : options) {
        if (option == "bind") {
            out.bind = true;
        } else if (option == "rbind") {
            out.bind = out.recursive = true;
        } else if (option == "nofollow") {
            out.nofollow = true;
        } else if (auto f = flags.find(option); f != flags.end()) {
            if (f->second.clear)
                out.flags &= ~f->second.flag;
            else
                out.flags |= f->second.flag;
        } else if (option == "private" || option == "rprivate" || option == "slave" ||
                   option == "rslave" || option == "shared" || option == "rshared" ||
                   option == "unbindable" || option == "runbindable") {
            out.propagation = propagation_flags(option);
        } else if (option == "tmpcopyup" || option == "idmap" || option == "ridmap") {
            throw make_error(ErrorKind::unsupported,
                             "mount option \"" + option + "\" is not supported");
        } else {
            if (!out.data.empty()) out.data += ',';
            out.data += option;
        }
    }
    return out;
}

bool is_magic_link_path(const std::string& path) {
    std::vector<std::string> parts;
    for (const auto& part : std::filesystem::path(path)) {
        std::string p = part.string();
        if (p.empty() || p == "/" || p == ".") continue;
        if (p == "..") {
            if (!parts.empty()) parts.pop_back();
            continue;
        }
        parts.push_back(p);
    }
    if (parts.size() >= 2 && parts[0] == "proc") {
        const std::string& who = parts[1];
        bool pid = who.find_first_not_of("0123456789") == std::string::npos;
        return pid || who == "self" || who == "thread-self";
    }
    if (parts.size() >= 2 && parts[0] == "dev")
        return parts[1] == "fd" || parts[1] == "stdin" || parts[1] == "stdout" ||
               parts[1] == "stderr";
    return false;
}

void check_not_magic_link(const std::string& path, const std::string& field) {
    if (is_magic_link_path(path))
        throw invalid_argument(field,
                               "must not go through /proc/<pid>/, /proc/self/ or /dev/fd "
                               "(a magic link to a process's descriptors): \"" +
                                   path + "\"");
}

}  // namespace truman
