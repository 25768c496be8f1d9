// Crash-safe file replacement: after a crash (or SIGKILL) a reader sees either the old or the
// new content, never a mix, and a temp file is the only thing that can be left behind.
#pragma once

#include <string>
#include <string_view>

namespace truman::daemon {

// Write content to a temp file in path's directory, fsync it, rename it over path, and fsync
// the directory so the rename itself survives a power loss. Throws truman::Error (system).
void write_file_atomic(const std::string& path, std::string_view content, int mode = 0600);

// As write_file_atomic without either fsync, for records whose fsync is done later, off the
// path that waits for the answer (sync_file_and_dir). After a crash of the writer (SIGKILL) a
// reader still sees the old or the new content: the rename is atomic and the page cache
// outlives the process. After a power loss before that fsync, the newest content may be lost.
void write_file_replace(const std::string& path, std::string_view content, int mode = 0600);
// fsync of path (nothing when it is gone) and of its directory (nothing when that is gone
// too). Throws truman::Error (system).
void sync_file_and_dir(const std::string& path);

// True for the temp names write_file_atomic uses (".<name>.tmp.XXXXXX"), so loaders can
// recognise and delete what a crash left behind.
bool is_atomic_temp_name(std::string_view filename);

// Write all of data to fd, again after a short write or EINTR. Throws truman::Error (system)
// naming path.
void write_all(int fd, std::string_view data, const std::string& path);

// Read a whole file. Throws truman::Error (not_found if it does not exist, system otherwise).
std::string read_whole_file(const std::string& path);

}  // namespace truman::daemon
