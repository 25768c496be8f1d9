// A GMock ContainerService and a Responder that records what a handler answered, for testing
// the API layer without containers.
#pragma once

#include <gmock/gmock.h>

#include <mutex>

#include "truman/api/http.hpp"
#include "truman/daemon/service.hpp"

namespace truman::test {

class MockService : public daemon::ContainerService {
  public:
    MOCK_METHOD(std::string, create, (const daemon::CreateRequest&), (override));
    MOCK_METHOD(std::vector<daemon::ContainerInfo>, list, (std::optional<daemon::Status>),
                (override));
    MOCK_METHOD(daemon::ContainerInfo, inspect, (const std::string&), (override));
    MOCK_METHOD(void, start, (const std::string&), (override));
    MOCK_METHOD(void, kill, (const std::string&, int), (override));
    MOCK_METHOD(void, async_stop,
                (const std::string&, std::chrono::seconds, int,
                 std::function<void(std::exception_ptr)>),
                (override));
    MOCK_METHOD(void, remove, (const std::string&, bool), (override));
    MOCK_METHOD(void, async_wait,
                (const std::string&,
                 std::function<void(std::exception_ptr, daemon::ContainerState)>),
                (override));
    MOCK_METHOD(std::unique_ptr<daemon::Subscription>, logs,
                (const std::string&, const daemon::LogOptions&,
                 std::function<void(const daemon::LogLine&)>, std::function<void()>),
                (override));
    MOCK_METHOD(std::unique_ptr<daemon::Subscription>, events,
                (std::function<void(const daemon::Event&)>), (override));
    MOCK_METHOD(daemon::DaemonInfo, info, (), (override));
    MOCK_METHOD(std::unique_ptr<daemon::Subscription>, seccomp,
                (const std::string&, const daemon::SeccompOptions&,
                 std::function<void(const daemon::SeccompRecord&)>, std::function<void()>),
                (override));
    MOCK_METHOD(std::vector<daemon::ImageInfo>, import_images,
                (const daemon::ImageSource&, const std::string&), (override));
    MOCK_METHOD(daemon::ImageExporter, export_image, (const std::string&), (override));
    MOCK_METHOD(void, login_registry, (const daemon::LoginRequest&), (override));
    MOCK_METHOD(void, logout_registry, (const std::string&), (override));
};

// Counts cancellations so tests can prove a stream's subscription was released.
class FakeSubscription : public daemon::Subscription {
  public:
    explicit FakeSubscription(std::shared_ptr<int> cancelled) : cancelled_(std::move(cancelled)) {}
    void cancel() override { ++*cancelled_; }

  private:
    std::shared_ptr<int> cancelled_;
};

class RecordingResponder : public api::Responder {
  public:
    void respond(api::Response r) override {
        std::lock_guard lock(mutex);
        ++responses;
        response = std::move(r);
    }
    void open_stream(unsigned status, std::string content_type) override {
        std::lock_guard lock(mutex);
        stream_status = status;
        stream_type = std::move(content_type);
    }
    void chunk(std::string data) override {
        std::lock_guard lock(mutex);
        chunks.push_back(std::move(data));
    }
    void end_stream() override {
        std::lock_guard lock(mutex);
        ended = true;
    }
    void keep(std::unique_ptr<daemon::Subscription> s) override {
        std::lock_guard lock(mutex);
        subscription = std::move(s);
    }

    std::mutex mutex;
    int responses = 0;
    api::Response response;
    unsigned stream_status = 0;
    std::string stream_type;
    std::vector<std::string> chunks;
    bool ended = false;
    std::unique_ptr<daemon::Subscription> subscription;
};

}  // namespace truman::test
