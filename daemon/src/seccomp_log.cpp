// The reader repeats LogReader's rotation logic (container_log.cpp) for another record type
// rather than reshaping LogReader under the log followers that use it.
#include "truman/daemon/seccomp_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "truman/daemon/time_format.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

using nlohmann::json;

namespace truman::daemon {

namespace {

std::string time_text(std::chrono::system_clock::time_point when) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    return rfc3339(ts);
}

template <typename T>
bool read_field(const json& doc, const char* name, T& out) {
    auto it = doc.find(name);
    if (it == doc.end()) return true;
    try {
        out = it->get<T>();
        return true;
    } catch (const json::exception&) {
        return false;
    }
}

// The complete records of one file.
std::vector<SeccompRecord> records_of_file(const std::string& path) {
    std::vector<SeccompRecord> out;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return out;
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<size_t>(n));
    }
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
        if (auto r = decode_seccomp_record(std::string_view(text).substr(start, nl - start)))
            out.push_back(std::move(*r));
    return out;
}

}  // namespace

std::string errno_name(int err) {
    if (const char* name = strerrorname_np(err)) return name;
    return std::to_string(err);
}

std::string encode_seccomp_record(const SeccompRecord& r) {
    json doc{{"time", r.time}};
    if (r.dropped > 0) {
        doc["dropped"] = r.dropped;
        doc["dropped_by_syscall"] = r.dropped_by_syscall;
    } else {
        doc["pid"] = r.pid;
        doc["host_pid"] = r.host_pid;
        doc["comm"] = r.comm;
        doc["syscall"] = r.syscall;
        doc["nr"] = r.nr;
        doc["arch"] = r.arch;
        doc["action"] = r.action;
        if (!r.error.empty()) doc["errno"] = r.error;
        if (!r.args.empty()) doc["args"] = r.args;
    }
    // comm is the container's choice of bytes.
    return doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::optional<SeccompRecord> decode_seccomp_record(std::string_view line) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    json doc = json::parse(line.begin(), line.end(), nullptr, false);
    if (!doc.is_object() || !doc.contains("time")) return std::nullopt;
    SeccompRecord r;
    bool ok = read_field(doc, "time", r.time) && read_field(doc, "dropped", r.dropped) &&
              read_field(doc, "dropped_by_syscall", r.dropped_by_syscall) &&
              read_field(doc, "pid", r.pid) && read_field(doc, "host_pid", r.host_pid) &&
              read_field(doc, "comm", r.comm) && read_field(doc, "syscall", r.syscall) &&
              read_field(doc, "nr", r.nr) && read_field(doc, "arch", r.arch) &&
              read_field(doc, "action", r.action) && read_field(doc, "errno", r.error) &&
              read_field(doc, "args", r.args);
    if (!ok || (r.dropped == 0 && r.syscall.empty())) return std::nullopt;
    return r;
}

SeccompRecord denial_record(const BlockedSyscall& blocked) {
    SeccompRecord r;
    r.time = time_text(blocked.when);
    r.pid = blocked.ns_pid;
    r.host_pid = blocked.pid;
    r.comm = blocked.comm;
    r.syscall = blocked.name;
    r.nr = blocked.nr;
    r.arch = blocked.arch;
    r.action = "errno";
    r.error = errno_name(blocked.error);
    r.args.assign(blocked.args.begin(), blocked.args.end());
    return r;
}

SeccompRecord sigsys_record(pid_t host_pid, const std::string& time) {
    SeccompRecord r;
    r.time = time;
    r.pid = 1;  // the container's init: the only process whose wait status the monitor sees
    r.host_pid = host_pid;
    r.syscall = "unknown";
    r.action = "kill";
    return r;
}

SeccompLogWriter::SeccompLogWriter(std::string path, uint64_t max_bytes)
    : path_(std::move(path)), max_bytes_(max_bytes) {
    // A monitor is one per container, so it finds records only after a crash of its own: it
    // carries on with the counts the files hold.
    old_exists_ = access((path_ + ".1").c_str(), F_OK) == 0;
    auto count_file = [this](const std::string& file, std::map<std::string, uint64_t>& counts) {
        for (const auto& r : records_of_file(file)) {
            if (r.dropped > 0)
                dropped_ = r.dropped_by_syscall;
            else
                ++counts[r.syscall];
        }
    };
    count_file(path_ + ".1", old_);
    count_file(path_, current_);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) throw system_error("open " + path_);
    struct stat st {};
    if (fstat(fd_, &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
}

SeccompLogWriter::~SeccompLogWriter() {
    if (fd_ >= 0) ::close(fd_);
}

void SeccompLogWriter::append(const SeccompRecord& denial) {
    std::string line = encode_seccomp_record(denial);
    if (size_ > 0 && size_ + line.size() > max_bytes_) rotate();
    write_line(line);
    ++current_[denial.syscall];
}

void SeccompLogWriter::write_line(const std::string& line) {
    // One write() per record with O_APPEND: a reader never sees two records interleaved, at
    // worst the tail of the one being written.
    std::string_view rest = line;
    while (!rest.empty()) {
        ssize_t n = ::write(fd_, rest.data(), rest.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw system_error("write " + path_);
        }
        rest.remove_prefix(static_cast<size_t>(n));
        size_ += static_cast<uint64_t>(n);
    }
}

void SeccompLogWriter::rotate() {
    std::string old = path_ + ".1";
    if (old_exists_)
        for (const auto& [name, count] : old_) dropped_[name] += count;
    if (rename(path_.c_str(), old.c_str()) < 0)
        throw system_error("rename " + path_ + " to " + old);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_TRUNC, 0600);
    if (fd < 0) throw system_error("open " + path_);
    ::close(fd_);
    fd_ = fd;
    size_ = 0;
    old_exists_ = true;
    old_ = std::move(current_);
    current_.clear();
    uint64_t total = 0;
    for (const auto& [name, count] : dropped_) total += count;
    if (total == 0) return;
    SeccompRecord note;
    note.time = rfc3339_now();
    note.dropped = total;
    note.dropped_by_syscall = dropped_;
    write_line(encode_seccomp_record(note));
}

SeccompLogReader::SeccompLogReader(std::string log_path) : lines_(std::move(log_path)) {}

std::vector<SeccompRecord> SeccompLogReader::read_available() {
    std::vector<SeccompRecord> out;
    lines_.read_available([&](std::string_view line) {
        if (auto record = decode_seccomp_record(line)) out.push_back(std::move(*record));
    });
    return out;
}

std::vector<SeccompRecord> read_seccomp_log(const std::string& log_path) {
    SeccompLogReader reader(log_path);
    return reader.read_available();
}

std::string seccomp_since(const SeccompOptions& options) {
    if (options.since.empty()) return {};
    auto when = parse_client_time(options.since);
    if (!when)
        throw invalid_argument(
            "since", "must be an RFC 3339 time or Unix seconds, not \"" + options.since + "\"");
    return rfc3339(*when);
}

std::vector<SeccompRecord> select_seccomp_records(std::vector<SeccompRecord> records,
                                                  const std::string& since,
                                                  std::optional<size_t> tail) {
    // Every time is written in the one fixed-width form, so text order is time order.
    if (!since.empty())
        records.erase(std::remove_if(records.begin(), records.end(),
                                     [&](const SeccompRecord& r) { return r.time < since; }),
                      records.end());
    if (tail && *tail < records.size())
        records.erase(records.begin(), records.end() - static_cast<std::ptrdiff_t>(*tail));
    return records;
}

std::map<std::string, uint64_t> seccomp_denial_counts(const std::vector<SeccompRecord>& records) {
    // Each drop note counts everything discarded before it, its predecessors' counts included.
    std::map<std::string, uint64_t> counts;
    const SeccompRecord* last_note = nullptr;
    for (const auto& r : records) {
        if (r.dropped > 0)
            last_note = &r;
        else
            ++counts[r.syscall];
    }
    if (last_note)
        for (const auto& [name, count] : last_note->dropped_by_syscall) counts[name] += count;
    return counts;
}

}  // namespace truman::daemon
