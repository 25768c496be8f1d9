// A stream the service feeds (logs, events) until it ends or the subscriber cancels it. Its own
// header so that a front-end's transport (api/http.hpp) can hold one without the service.
#pragma once

namespace truman::daemon {

// Cancels a stream (logs, events) when destroyed or cancel()ed.
class Subscription {
  public:
    virtual ~Subscription() = default;
    virtual void cancel() = 0;
};

}  // namespace truman::daemon
