// Crash-safe file replacement: after a crash (or SIGKILL) a reader sees either the old or the
// new content, never a mix, and a temp file is the only thing that can be left behind.
#pragma once

#include <string>
#include <string_view>

namespace truman::daemon {

// Write content to a temp file in path's directory, fsync it, rename it over path, and fsync
// the directory so the rename itself survives a power loss. Throws truman::Error (system).
void write_file_atomic(const std::string& path, std::string_view content, int mode = 0600);

// True for the temp names write_file_atomic uses (".<name>.tmp.XXXXXX"), so loaders can
// recognise and delete what a crash left behind.
bool is_atomic_temp_name(std::string_view filename);

// Read a whole file. Throws truman::Error (not_found if it does not exist, system otherwise).
std::string read_whole_file(const std::string& path);

}  // namespace truman::daemon
