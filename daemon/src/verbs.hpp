// The service's verbs, one file each, as functions over the registry; the facade
// (service.cpp) forwards ContainerService's calls to them. Each throws truman::Error; a ref is
// an id, a name or an id prefix of at least 4 characters.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "registry.hpp"
#include "truman/daemon/service.hpp"

namespace truman::daemon::verbs {

// create.cpp: check the request, lay out the container's directory, and have a new monitor
// create the container; undone whole unless the monitor reports it created.
std::string create(ContainerRegistry& registry, const CreateRequest& request);

// start.cpp
void start(ContainerRegistry& registry, const std::string& ref);

// kill.cpp
void kill(ContainerRegistry& registry, const std::string& ref, int signal);

// stop.cpp: signal (0: the container's stop signal, SIGTERM unless its image says), SIGKILL
// after timeout; done once it has exited.
void stop(ContainerRegistry& registry, const std::string& ref, std::chrono::seconds timeout,
          int signal, const std::function<void(std::exception_ptr)>& done);

// remove.cpp: a running container only with force; waits for its monitor to be gone.
void remove(ContainerRegistry& registry, const std::string& ref, bool force);

// wait.cpp
void wait(ContainerRegistry& registry, const std::string& ref, WaitCallback done);

// logs.cpp
std::unique_ptr<Subscription> logs(ContainerRegistry& registry, const std::string& ref,
                                   const LogOptions& options,
                                   std::function<void(const LogLine&)> on_line,
                                   std::function<void()> on_end);

// seccomp_profile.cpp: the profile learned from a container in seccomp learning mode.
Seccomp seccomp_profile(ContainerRegistry& registry, const std::string& ref);

// seccomp.cpp: the container's seccomp.log, followed through the registry's DirWatch.
std::unique_ptr<Subscription> seccomp(ContainerRegistry& registry, const std::string& ref,
                                      const SeccompOptions& options,
                                      std::function<void(const SeccompRecord&)> on_record,
                                      std::function<void()> on_end);

// network_connect.cpp: a running container joins or leaves a network.
void connect_network(ContainerRegistry& registry, const std::string& network,
                     const NetworkConnectRequest& request);
void disconnect_network(ContainerRegistry& registry, const std::string& network,
                        const std::string& ref);

// inspect.cpp: what the registry holds now.
std::vector<ContainerInfo> list(ContainerRegistry& registry, std::optional<Status> filter);
ContainerInfo inspect(ContainerRegistry& registry, const std::string& ref);
DaemonInfo info(ContainerRegistry& registry);

// exec.cpp: an exec's config next to its container; its monitor runs it and records the exit.
std::string create_exec(ContainerRegistry& registry, const std::string& ref,
                        const ExecRequest& request);
ExecInfo start_exec(ContainerRegistry& registry, const std::string& exec_id);
// start_exec and wait_exec in one monitor round trip: done once it has exited.
void run_exec(ContainerRegistry& registry, const std::string& exec_id,
              const std::function<void(std::exception_ptr, ExecInfo)>& done);
ExecInfo inspect_exec(ContainerRegistry& registry, const std::string& exec_id);
void wait_exec(ContainerRegistry& registry, const std::string& exec_id,
               const std::function<void(std::exception_ptr, ExecInfo)>& done);
std::string exec_output(ContainerRegistry& registry, const std::string& exec_id);

// attach.cpp: the connection goes to the container's monitor.
bool check_attach(ContainerRegistry& registry, const std::string& ref);
void resize(ContainerRegistry& registry, const std::string& ref, unsigned height, unsigned width);
void resize_exec(ContainerRegistry& registry, const std::string& exec_id, unsigned height,
                 unsigned width);
void attach(ContainerRegistry& registry, const std::string& ref, const AttachRequest& request,
            Fd connection);
void start_exec_attached(ContainerRegistry& registry, const std::string& exec_id,
                         const AttachRequest& request, Fd connection);

}  // namespace truman::daemon::verbs
