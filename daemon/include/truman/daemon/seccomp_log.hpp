// seccomp.log: the system calls a container's seccomp profile denied, as JSON lines,
//   {"time":"2026-11-29T12:00:01.123456789Z","pid":7,"host_pid":4242,"comm":"sh",
//    "syscall":"mount","nr":165,"arch":"x86_64","action":"errno","errno":"EPERM",
//    "args":[...]}
// written by the monitor as it answers each one (so nothing is lost while trumand is down) and
// read by the service. The file is capped: once a record would take it past max_bytes it is
// renamed to seccomp.log.1 (replacing the previous one) and a new file is started. When that
// replacing discards denials, the new file starts with a drop note,
//   {"time":"...","dropped":1234,"dropped_by_syscall":{"mount":1000,"keyctl":234}}
// counting every denial discarded since the container was created, so that the totals by
// syscall (seccomp_denial_counts) stay exact however long a container loops on a denied call.
#pragma once

#include <time.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "truman/daemon/rotated_log_reader.hpp"
#include "truman/daemon/service.hpp"
#include "truman/seccomp.hpp"

namespace truman::daemon {

constexpr uint64_t default_seccomp_log_max_bytes = uint64_t{1024} * 1024;

// One JSON record with its trailing '\n'.
std::string encode_seccomp_record(const SeccompRecord& record);
// nullopt for anything that is not a complete record (a torn last line after a crash).
std::optional<SeccompRecord> decode_seccomp_record(std::string_view line);

// The record of a denial the monitor answered.
SeccompRecord denial_record(const BlockedSyscall& blocked);
// The record of a container whose init was killed by SIGSYS (a KILL or TRAP action): all the
// wait status says is the signal, so the call is "unknown".
SeccompRecord sigsys_record(pid_t host_pid, const std::string& time);

// "EPERM" for EPERM; the number as text for an errno without a name.
std::string errno_name(int err);

class SeccompLogWriter {
  public:
    // Opens (appends to) path, counting what path and path.1 hold already; throws
    // truman::Error.
    explicit SeccompLogWriter(std::string path, uint64_t max_bytes = default_seccomp_log_max_bytes);
    ~SeccompLogWriter();
    SeccompLogWriter(const SeccompLogWriter&) = delete;
    SeccompLogWriter& operator=(const SeccompLogWriter&) = delete;

    void append(const SeccompRecord& denial);

  private:
    void write_line(const std::string& line);
    void rotate();

    std::string path_;
    uint64_t max_bytes_;
    int fd_ = -1;
    uint64_t size_ = 0;
    bool old_exists_ = false;
    std::map<std::string, uint64_t> current_, old_, dropped_;
};

// Reads seccomp.log.1 then seccomp.log (log_path names the latter) and then, on every call,
// what was appended since, following a rotation like LogReader does for container.log.
class SeccompLogReader {
  public:
    explicit SeccompLogReader(std::string log_path);

    std::vector<SeccompRecord> read_available();

  private:
    RotatedLogReader lines_;
};

// Every record of seccomp.log.1 then seccomp.log.
std::vector<SeccompRecord> read_seccomp_log(const std::string& log_path);

// options.since as the RFC 3339 text records compare against; "" when there is none. Throws
// truman::Error (invalid) naming "since".
std::string seccomp_since(const SeccompOptions& options);
// The records at or after since (the canonical text of seccomp_since), then the last tail.
std::vector<SeccompRecord> select_seccomp_records(std::vector<SeccompRecord> records,
                                                  const std::string& since,
                                                  std::optional<size_t> tail);

// Denials by syscall name over the whole life of the container (records as read_seccomp_log
// gives them): the last drop note's counts plus every denial still in the files.
std::map<std::string, uint64_t> seccomp_denial_counts(const std::vector<SeccompRecord>& records);

}  // namespace truman::daemon
