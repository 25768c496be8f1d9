// The compiled-program cache behind cached_seccomp(): in memory, and optionally on disk.

#include <fcntl.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "truman/error.hpp"
#include "truman/fd.hpp"
#include "truman/seccomp.hpp"

namespace truman {

namespace {

constexpr char kMagic[8] = {'T', 'R', 'S', 'E', 'C', 'C', '0', '2'};

std::string cache_key(const Seccomp& profile, bool learn) {
    ContainerSpec holder;
    holder.linux.seccomp = profile;
    std::string text = spec_to_json(holder)["linux"]["seccomp"].dump();
    const scmp_version* v = seccomp_version();
    text += "|libseccomp " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
            std::to_string(v->micro) + "|arch " + std::to_string(seccomp_arch_native()) +
            (learn ? "|learn" : "");
    return text;
}

void put(std::string& out, const void* p, size_t n) {
    out.append(static_cast<const char*>(p), n);
}
template <typename T>
void put(std::string& out, T v) {
    put(out, &v, sizeof v);
}

std::string serialize(const std::string& key, const SeccompProgram& p) {
    std::string out(kMagic, sizeof kMagic);
    put<uint32_t>(out, static_cast<uint32_t>(key.size()));
    out += key;
    put<uint32_t>(out, static_cast<uint32_t>(p.filter.size()));
    put(out, p.filter.data(), p.filter.size() * sizeof(sock_filter));
    put<uint8_t>(out, p.needs_listener);
    put<int32_t>(out, p.default_notify_errno);
    put<uint32_t>(out, static_cast<uint32_t>(p.notify_errno.size()));
    for (auto [nr, err] : p.notify_errno) {
        put<int32_t>(out, nr);
        put<int32_t>(out, err);
    }
    put<uint32_t>(out, static_cast<uint32_t>(p.learn_nrs.size()));
    for (int nr : p.learn_nrs) put<int32_t>(out, nr);
    return out;
}

// Reads back what serialize() wrote; nullopt for anything else (another key, a torn file).
std::optional<SeccompProgram> deserialize(const std::string& key, const std::string& in) {
    size_t at = 0;
    auto get = [&](void* p, size_t n) {
        if (in.size() - at < n) return false;
        std::memcpy(p, in.data() + at, n);
        at += n;
        return true;
    };
    char magic[sizeof kMagic];
    uint32_t key_len = 0, n = 0, m = 0;
    if (!get(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0)
        return std::nullopt;
    if (!get(&key_len, 4) || in.size() - at < key_len || in.compare(at, key_len, key) != 0)
        return std::nullopt;
    at += key_len;
    SeccompProgram p;
    if (!get(&n, 4) || n > 65535) return std::nullopt;
    p.filter.resize(n);
    uint8_t listener = 0;
    int32_t def = 0;
    if (!get(p.filter.data(), n * sizeof(sock_filter)) || !get(&listener, 1) || !get(&def, 4) ||
        !get(&m, 4))
        return std::nullopt;
    p.needs_listener = listener != 0;
    p.default_notify_errno = def;
    for (uint32_t i = 0; i < m; ++i) {
        int32_t nr, err;
        if (!get(&nr, 4) || !get(&err, 4)) return std::nullopt;
        p.notify_errno[nr] = err;
    }
    uint32_t learned = 0;
    if (!get(&learned, 4)) return std::nullopt;
    for (uint32_t i = 0; i < learned; ++i) {
        int32_t nr;
        if (!get(&nr, 4)) return std::nullopt;
        p.learn_nrs.insert(nr);
    }
    if (at != in.size()) return std::nullopt;
    return p;
}

std::optional<std::string> read_whole(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    std::string out;
    char buf[16384];
    for (;;) {
        ssize_t r = ::read(fd.get(), buf, sizeof buf);
        if (r < 0) return std::nullopt;
        if (r == 0) return out;
        out.append(buf, static_cast<size_t>(r));
    }
}

// Best effort: a cache that cannot be written only costs the next process a compile.
void write_atomically(const std::string& dir, const std::string& name, const std::string& data) {
    ::mkdir(dir.c_str(), 0700);
    std::string tmp = dir + "/." + name + "." + std::to_string(::getpid());
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return;
    bool ok = ::write(fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
              ::fsync(fd.get()) == 0;
    fd.reset();
    if (!ok || ::rename(tmp.c_str(), (dir + "/" + name).c_str()) != 0) ::unlink(tmp.c_str());
}

}  // namespace

SeccompProgram cached_seccomp(const Seccomp& profile, const std::string& cache_dir, bool learn) {
    static std::mutex mutex;
    static std::unordered_map<std::string, SeccompProgram> memory;
    std::string key = cache_key(profile, learn);
    std::string memory_key = key + "|" + cache_dir;
    {
        std::lock_guard lock(mutex);
        if (auto it = memory.find(memory_key); it != memory.end()) return it->second;
    }
    std::string name = std::to_string(std::hash<std::string>{}(key)) + ".bpf";
    std::optional<SeccompProgram> program;
    if (!cache_dir.empty())
        if (auto data = read_whole(cache_dir + "/" + name)) program = deserialize(key, *data);
    if (!program) {
        program = compile_seccomp(profile, learn);
        if (!cache_dir.empty()) write_atomically(cache_dir, name, serialize(key, *program));
    }
    std::lock_guard lock(mutex);
    return memory.emplace(memory_key, *program).first->second;
}

}  // namespace truman
