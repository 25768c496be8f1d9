#include "truman/daemon/name_files.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <sstream>

#include "truman/daemon/atomic_file.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

using nlohmann::json;

namespace truman::daemon {

namespace {

bool is_ipv4(const std::string& text) {
    unsigned char buf[4];
    return ::inet_pton(AF_INET, text.c_str(), buf) == 1;
}

bool is_ipv6(const std::string& text) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

bool is_loopback(const std::string& text) {
    unsigned char buf[16];
    if (::inet_pton(AF_INET, text.c_str(), buf) == 1) return buf[0] == 127;
    if (::inet_pton(AF_INET6, text.c_str(), buf) != 1) return false;
    for (int i = 0; i < 15; ++i)
        if (buf[i] != 0) return false;
    return buf[15] == 1;
}

void check_word(const std::string& word, const std::string& field) {
    if (word.empty()) throw invalid_argument(field, "must not be empty");
    for (char c : word)
        if (std::isspace(static_cast<unsigned char>(c)) || c == '#' || c == ';')
            throw invalid_argument(field, "\"" + word + "\" has white space or a comment");
}

std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// "NAME:IP"; the address may be IPv6 and so hold colons: the name ends at the first.
std::pair<std::string, std::string> split_extra_host(const std::string& entry) {
    auto colon = entry.find(':');
    if (colon == std::string::npos) return {entry, ""};
    return {entry.substr(0, colon), entry.substr(colon + 1)};
}

std::string line_of(const HostsEntry& e) {
    std::string line = e.address;
    for (const auto& n : e.names) line += "\t" + n;
    return line + "\n";
}

}  // namespace

void validate_host_name(const std::string& name, const std::string& field) {
    if (name.empty() || name.size() > 253)
        throw invalid_argument(field, "a host name has 1 to 253 characters");
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
            throw invalid_argument(field, "\"" + name + "\" is not a host name");
}

void validate_name_options(const NameOptions& o) {
    for (size_t i = 0; i < o.dns.size(); ++i)
        if (!is_ipv4(o.dns[i]) && !is_ipv6(o.dns[i]))
            throw invalid_argument("dns[" + std::to_string(i) + "]",
                                   "\"" + o.dns[i] + "\" is not an IPv4 or IPv6 address");
    for (size_t i = 0; i < o.dns_search.size(); ++i)
        validate_host_name(o.dns_search[i], "dns_search[" + std::to_string(i) + "]");
    for (size_t i = 0; i < o.dns_options.size(); ++i)
        check_word(o.dns_options[i], "dns_options[" + std::to_string(i) + "]");
    for (size_t i = 0; i < o.extra_hosts.size(); ++i) {
        const std::string field = "extra_hosts[" + std::to_string(i) + "]";
        auto [name, address] = split_extra_host(o.extra_hosts[i]);
        validate_host_name(name, field);
        if (!is_ipv4(address) && !is_ipv6(address))
            throw invalid_argument(field, "\"" + o.extra_hosts[i] + "\" is not NAME:IP");
    }
}

json to_json(const NameRecord& r) {
    return {{"name", r.name},
            {"hostname", r.hostname},
            {"dns", r.options.dns},
            {"dns_search", r.options.dns_search},
            {"dns_options", r.options.dns_options},
            {"extra_hosts", r.options.extra_hosts}};
}

NameRecord name_record_from_json(const json& doc) {
    try {
        NameRecord r;
        r.name = doc.at("name").get<std::string>();
        r.hostname = doc.at("hostname").get<std::string>();
        r.options.dns = doc.at("dns").get<std::vector<std::string>>();
        r.options.dns_search = doc.at("dns_search").get<std::vector<std::string>>();
        r.options.dns_options = doc.at("dns_options").get<std::vector<std::string>>();
        r.options.extra_hosts = doc.at("extra_hosts").get<std::vector<std::string>>();
        return r;
    } catch (const json::exception& e) {
        throw Error(ErrorKind::invalid, EINVAL, std::string("names.json: ") + e.what());
    }
}

std::string render_hosts(const NameRecord& record, const std::vector<HostsEntry>& own,
                         const std::vector<HostsEntry>& peers) {
    std::string out =
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "ff00::0\tip6-mcastprefix\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n";
    for (const auto& entry : record.options.extra_hosts) {
        auto [name, address] = split_extra_host(entry);
        out += line_of({address, {name}});
    }
    if (own.empty()) {
        // Loopback only: the container's names still resolve, to itself.
        HostsEntry self{"127.0.1.1", {}};
        if (!record.hostname.empty()) self.names.push_back(record.hostname);
        if (record.name != record.hostname) self.names.push_back(record.name);
        if (!self.names.empty()) out += line_of(self);
    }
    for (const auto& e : own) {
        HostsEntry self{e.address, {}};
        if (!record.hostname.empty()) self.names.push_back(record.hostname);
        if (record.name != record.hostname) self.names.push_back(record.name);
        self.names.insert(self.names.end(), e.names.begin(), e.names.end());
        out += line_of(self);
    }
    for (const auto& e : peers) out += line_of(e);
    return out;
}

std::string render_resolv_conf(const NameOptions& o, const std::string& host) {
    std::vector<std::string> servers, search, options;
    std::istringstream in(host);
    for (std::string line; std::getline(in, line);) {
        auto w = words(line);
        if (w.empty() || w[0][0] == '#' || w[0][0] == ';') continue;
        if (w[0] == "nameserver" && w.size() > 1 && !is_loopback(w[1])) servers.push_back(w[1]);
        // The last search (or domain) line wins, as in resolv.conf(5).
        if ((w[0] == "search" || w[0] == "domain") && w.size() > 1)
            search.assign(w.begin() + 1, w.end());
        if (w[0] == "options") options.insert(options.end(), w.begin() + 1, w.end());
    }
    if (!o.dns.empty()) servers = o.dns;
    if (!o.dns_search.empty()) search = o.dns_search;
    if (!o.dns_options.empty()) options = o.dns_options;
    std::string out;
    for (const auto& s : servers) out += "nameserver " + s + "\n";
    if (!search.empty()) {
        out += "search";
        for (const auto& s : search) out += " " + s;
        out += "\n";
    }
    if (!options.empty()) {
        out += "options";
        for (const auto& s : options) out += " " + s;
        out += "\n";
    }
    return out;
}

std::string host_resolv_conf(const std::string& resolv_conf, const std::string& resolved_conf) {
    std::string text;
    try {
        text = read_whole_file(resolv_conf);
    } catch (const Error&) {
        return "";  // no resolver configured: the container gets none either
    }
    if (render_resolv_conf({}, text).find("nameserver") != std::string::npos) return text;
    try {
        return read_whole_file(resolved_conf);
    } catch (const Error&) {
        return text;
    }
}

namespace {

// Truncate after writing, not before: a reader meanwhile sees the old lines or the new ones
// followed by the old tail, never an empty file.
void write_all_at(int fd, const std::string& content, const std::string& path) {
    size_t done = 0;
    while (done < content.size()) {
        ssize_t n =
            ::pwrite(fd, content.data() + done, content.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw system_error("write " + path);
        done += static_cast<size_t>(n);
    }
    if (::ftruncate(fd, static_cast<off_t>(content.size())) < 0)
        throw system_error("truncate " + path);
}

}  // namespace

void write_file_in_place(const std::string& path, const std::string& content) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd)
        throw make_error(errno == ENOENT ? ErrorKind::not_found : ErrorKind::system, "open " + path,
                         errno);
    write_all_at(fd.get(), content, path);
}

void write_new_file(const std::string& path, const std::string& content) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) throw system_error("create " + path);
    write_all_at(fd.get(), content, path);
}

std::vector<Mount> name_file_mounts(const NameFilePaths& paths) {
    const std::vector<std::string> options = {"bind", "nofollow", "nosuid", "nodev", "noexec"};
    return {{"/etc/hosts", "bind", paths.hosts(), options},
            {"/etc/hostname", "bind", paths.hostname(), options},
            {"/etc/resolv.conf", "bind", paths.resolv_conf(), options}};
}

}  // namespace truman::daemon
