#include "truman/daemon/background_removal.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <system_error>
#include <utility>

namespace fs = std::filesystem;

namespace truman::daemon {

BackgroundRemoval::BackgroundRemoval() {
    thread_ = std::thread([this] { run(); });
}

BackgroundRemoval::~BackgroundRemoval() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void BackgroundRemoval::add(std::string path) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(path));
    }
    wake_.notify_one();
}

size_t BackgroundRemoval::pending() const {
    std::lock_guard lock(mutex_);
    return queue_.size() + in_flight_;
}

void BackgroundRemoval::flush() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return queue_.empty() && in_flight_ == 0; });
}

void BackgroundRemoval::run() {
    std::unique_lock lock(mutex_);
    auto has_work = [this] { return stopping_ || !queue_.empty(); };
    while (true) {
        if (removed_since_trim_ > 0 && !wake_.wait_for(lock, trim_after, has_work)) {
            // A batch of removals is over: its freed memory goes back to the kernel.
            removed_since_trim_ = 0;
            lock.unlock();
            malloc_trim(0);
            lock.lock();
            continue;
        }
        wake_.wait(lock, has_work);
        if (queue_.empty()) return;  // stopping, all removed
        std::string path = std::move(queue_.front());
        queue_.pop_front();
        in_flight_ = 1;
        lock.unlock();
        std::error_code ec;
        fs::remove_all(path, ec);
        // Left for the next start of trumand, which removes every .removing- directory.
        if (ec) spdlog::error("remove {}: {}", path, ec.message());
        lock.lock();
        in_flight_ = 0;
        ++removed_since_trim_;
        done_.notify_all();
    }
}

}  // namespace truman::daemon
