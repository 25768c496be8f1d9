// Durability off the reply path. A record that a crash of trumand or of a monitor must not
// lose is replaced atomically on the request's path (write_file_replace: the page cache
// outlives any process); what a power loss must keep is fsync'd here, on a thread of its own
// and in batches, just after the reply has left. A power loss in between can lose the newest
// record, never corrupt an older one (see README, "What survives what").
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace truman::daemon {

class BatchedSync {
  public:
    // what names the records in log lines ("networks", "containers").
    explicit BatchedSync(std::string what);
    ~BatchedSync();  // syncs what is still pending
    BatchedSync(const BatchedSync&) = delete;
    BatchedSync& operator=(const BatchedSync&) = delete;

    // fsync path and its directory soon. A path that is gone by then (its container or
    // network was removed) has nothing left to keep and is skipped.
    void add(const std::string& path);
    // Returns once everything added before the call is on disk (tests, shutdown).
    void flush();
    // Paths synced so far (tests).
    size_t synced() const;

  private:
    void run();

    std::string what_;
    mutable std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::set<std::string> pending_;
    size_t in_flight_ = 0;  // taken from pending_, being synced
    size_t synced_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace truman::daemon
