// What delete reclaims after its reply (issue 13, "the settled point"). When delete answers,
// the container is unreachable: nothing of it runs, its id and name are free, its address and
// image are released, and its directory has been renamed out of its name (.removing-<id>).
// Removing that directory's files (the overlay's upper layer, logs, state) can take
// milliseconds per file on a busy disk; it is done here, on a thread of its own, and counted
// by pending() (GET /v1/info, pending_cleanup) until done. A directory a crash leaves behind
// is removed by the next start of trumand (load_containers).
//
// Once removals stop for a moment (trim_after), the same thread gives the heap's free pages
// back to the kernel (malloc_trim): glibc returns only the top of each arena by itself, so
// the memory of a thousand removed containers, freed in small pieces from several threads'
// arenas, stayed in trumand's RSS without it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace truman::daemon {

class BackgroundRemoval {
  public:
    static constexpr std::chrono::milliseconds trim_after{500};

    BackgroundRemoval();
    ~BackgroundRemoval();  // removes what is still queued
    BackgroundRemoval(const BackgroundRemoval&) = delete;
    BackgroundRemoval& operator=(const BackgroundRemoval&) = delete;

    // remove_all(path) soon.
    void add(std::string path);
    // Directories queued or being removed.
    size_t pending() const;
    // Returns once everything added before the call is removed (tests, shutdown).
    void flush();

  private:
    void run();

    mutable std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::deque<std::string> queue_;
    size_t in_flight_ = 0;
    size_t removed_since_trim_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace truman::daemon
