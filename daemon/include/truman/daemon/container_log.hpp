// container.log: the container's stdout and stderr as JSON lines, one per output line,
//   {"time":"2026-11-29T12:38:36.123456789Z","stream":"stdout","log":"hello"}
// written by the monitor (so no line is lost while trumand is down) and read by the service.
// The file is capped: once a write would take it past max_bytes it is renamed to
// container.log.1 (replacing the previous one) and a new file is started, so a chatty
// container uses at most about 2 * max_bytes of disk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "truman/daemon/rotated_log_reader.hpp"
#include "truman/daemon/service.hpp"

namespace truman::daemon {

constexpr uint64_t default_log_max_bytes = uint64_t{10} * 1024 * 1024;
// A line longer than this is cut into several records, so a container writing without
// newlines cannot grow the monitor's memory.
constexpr size_t max_log_line_bytes = size_t{16} * 1024;

// One JSON record with its trailing '\n'. Invalid UTF-8 in text is replaced (U+FFFD), never
// an error: container output is arbitrary bytes.
std::string encode_log_line(const LogLine& line);
// nullopt for anything that is not a complete record (a torn last line after a crash).
std::optional<LogLine> decode_log_line(std::string_view record);

class LogWriter {
  public:
    // Opens (appends to) path; throws truman::Error.
    explicit LogWriter(std::string path, uint64_t max_bytes = default_log_max_bytes);
    ~LogWriter();
    LogWriter(const LogWriter&) = delete;
    LogWriter& operator=(const LogWriter&) = delete;

    // Bytes read from a stream ("stdout"/"stderr"): every complete line is written; the rest
    // waits for its newline (or flush()).
    void append(const std::string& stream, std::string_view data);
    // Write the partial lines still buffered (at exit).
    void flush();
    // The partial lines still buffered, per stream ("stdout", text): what was appended but is
    // not in the file yet (attach?logs replays the file, then these).
    std::vector<std::pair<std::string, std::string>> unwritten() const;

  private:
    struct Partial {
        std::string stream;
        std::string text;
    };
    void write_record(const std::string& stream, std::string_view text);
    void rotate();
    Partial& partial_for(const std::string& stream);

    std::string path_;
    uint64_t max_bytes_;
    int fd_ = -1;
    uint64_t size_ = 0;
    std::vector<Partial> partials_;
};

// Reads container.log.1 then container.log (log_path names the latter) and then, on every
// call, what was appended since: following a rotation, it finishes the renamed file before
// starting on the new one. A record still being written is kept until it is complete.
class LogReader {
  public:
    explicit LogReader(std::string log_path);

    std::vector<LogLine> read_available();

  private:
    RotatedLogReader lines_;
};

// Every record of container.log.1 then container.log, in order.
std::vector<LogLine> read_log_lines(const std::string& log_path);

// Keep the requested streams, then the last `tail` lines of those.
std::vector<LogLine> filter_log_lines(std::vector<LogLine> lines, const LogOptions& options);
bool wants_stream(const LogOptions& options, const std::string& stream);

}  // namespace truman::daemon
