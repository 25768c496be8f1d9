#include "truman/daemon/batched_sync.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

#include "truman/daemon/atomic_file.hpp"

namespace truman::daemon {

BatchedSync::BatchedSync(std::string what) : what_(std::move(what)) {
    thread_ = std::thread([this] { run(); });
}

BatchedSync::~BatchedSync() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void BatchedSync::add(const std::string& path) {
    {
        std::lock_guard lock(mutex_);
        pending_.insert(path);
    }
    wake_.notify_one();
}

void BatchedSync::flush() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return pending_.empty() && in_flight_ == 0; });
}

size_t BatchedSync::synced() const {
    std::lock_guard lock(mutex_);
    return synced_;
}

void BatchedSync::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
        if (pending_.empty()) return;  // stopping, all synced
        // One batch: the same file written five times while the last batch synced is one
        // fsync, and one directory fsync commits every rename in it with the first.
        std::set<std::string> batch;
        batch.swap(pending_);
        in_flight_ = batch.size();
        lock.unlock();
        for (const auto& path : batch) {
            try {
                sync_file_and_dir(path);
            } catch (const std::exception& e) {
                spdlog::error("{}: {} (a power loss now could lose it)", what_, e.what());
            }
        }
        lock.lock();
        synced_ += batch.size();
        in_flight_ = 0;
        done_.notify_all();
    }
}

}  // namespace truman::daemon
