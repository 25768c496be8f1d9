#include "truman/daemon/container_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "truman/daemon/time_format.hpp"
#include "truman/error.hpp"

using nlohmann::json;

namespace truman::daemon {

std::string encode_log_line(const LogLine& line) {
    json doc = {{"time", line.time}, {"stream", line.stream}, {"log", line.text}};
    // Container output is arbitrary bytes; the default (strict) handler would throw on the
    // first invalid UTF-8 sequence and lose the line.
    return doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::optional<LogLine> decode_log_line(std::string_view record) {
    if (!record.empty() && record.back() == '\n') record.remove_suffix(1);
    json doc = json::parse(record.begin(), record.end(), nullptr, false);
    if (!doc.is_object()) return std::nullopt;
    auto time = doc.find("time");
    auto stream = doc.find("stream");
    auto log = doc.find("log");
    if (time == doc.end() || stream == doc.end() || log == doc.end() || !time->is_string() ||
        !stream->is_string() || !log->is_string())
        return std::nullopt;
    return LogLine{stream->get<std::string>(), time->get<std::string>(), log->get<std::string>()};
}

LogWriter::LogWriter(std::string path, uint64_t max_bytes)
    : path_(std::move(path)), max_bytes_(max_bytes) {
    fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) throw system_error("open " + path_);
    struct stat st {};
    if (fstat(fd_, &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
}

LogWriter::~LogWriter() {
    if (fd_ >= 0) close(fd_);
}

LogWriter::Partial& LogWriter::partial_for(const std::string& stream) {
    for (auto& p : partials_)
        if (p.stream == stream) return p;
    partials_.push_back({stream, {}});
    return partials_.back();
}

void LogWriter::append(const std::string& stream, std::string_view data) {
    Partial& partial = partial_for(stream);
    while (!data.empty()) {
        auto nl = data.find('\n');
        if (nl == std::string_view::npos) {
            partial.text.append(data);
            break;
        }
        partial.text.append(data.substr(0, nl));
        data.remove_prefix(nl + 1);
        write_record(stream, partial.text);
        partial.text.clear();
    }
    while (partial.text.size() >= max_log_line_bytes) {
        write_record(stream, std::string_view(partial.text).substr(0, max_log_line_bytes));
        partial.text.erase(0, max_log_line_bytes);
    }
}

std::vector<std::pair<std::string, std::string>> LogWriter::unwritten() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& p : partials_)
        if (!p.text.empty()) out.emplace_back(p.stream, p.text);
    return out;
}

void LogWriter::flush() {
    for (auto& p : partials_) {
        if (p.text.empty()) continue;
        write_record(p.stream, p.text);
        p.text.clear();
    }
}

void LogWriter::write_record(const std::string& stream, std::string_view text) {
    std::string record = encode_log_line({stream, rfc3339_now(), std::string(text)});
    if (size_ > 0 && size_ + record.size() > max_bytes_) rotate();
    // One write() per record with O_APPEND: a reader never sees two records interleaved, at
    // worst the tail of the one being written.
    std::string_view rest = record;
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

void LogWriter::rotate() {
    std::string old = path_ + ".1";
    if (rename(path_.c_str(), old.c_str()) < 0)
        throw system_error("rename " + path_ + " to " + old);
    int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_TRUNC, 0600);
    if (fd < 0) throw system_error("open " + path_);
    close(fd_);
    fd_ = fd;
    size_ = 0;
}

LogReader::LogReader(std::string log_path) : lines_(std::move(log_path)) {}

std::vector<LogLine> LogReader::read_available() {
    std::vector<LogLine> out;
    lines_.read_available([&](std::string_view line) {
        if (auto record = decode_log_line(line)) out.push_back(std::move(*record));
    });
    return out;
}

std::vector<LogLine> read_log_lines(const std::string& log_path) {
    LogReader reader(log_path);
    return reader.read_available();
}

bool wants_stream(const LogOptions& options, const std::string& stream) {
    if (stream == "stdout") return options.stdout_stream;
    if (stream == "stderr") return options.stderr_stream;
    return false;
}

std::vector<LogLine> filter_log_lines(std::vector<LogLine> lines, const LogOptions& options) {
    std::vector<LogLine> kept;
    kept.reserve(lines.size());
    for (auto& line : lines)
        if (wants_stream(options, line.stream)) kept.push_back(std::move(line));
    if (options.tail && *options.tail < kept.size())
        kept.erase(kept.begin(), kept.end() - static_cast<std::ptrdiff_t>(*options.tail));
    return kept;
}

}  // namespace truman::daemon
