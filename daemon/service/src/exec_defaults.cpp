// ContainerService's exec calls for a front-end's service that has no exec (a test double):
// each refuses, so adding exec to the interface did not oblige every implementation at once.

#include "truman/daemon/service.hpp"
#include "truman/error.hpp"

namespace truman::daemon {

namespace {

Error no_exec() {
    return make_error(ErrorKind::unsupported, "this service does not run exec");
}

}  // namespace

std::string ContainerService::create_exec(const std::string&, const ExecRequest&) {
    throw no_exec();
}
ExecInfo ContainerService::start_exec(const std::string&) {
    throw no_exec();
}
ExecInfo ContainerService::inspect_exec(const std::string&) {
    throw no_exec();
}
void ContainerService::async_run_exec(const std::string&,
                                      std::function<void(std::exception_ptr, ExecInfo)> done) {
    auto callback = std::move(done);
    callback(std::make_exception_ptr(no_exec()), ExecInfo{});
}
void ContainerService::async_wait_exec(const std::string&,
                                       std::function<void(std::exception_ptr, ExecInfo)> done) {
    auto callback = std::move(done);
    callback(std::make_exception_ptr(no_exec()), ExecInfo{});
}
std::string ContainerService::exec_output(const std::string&) {
    throw no_exec();
}
bool ContainerService::check_attach(const std::string&) {
    throw make_error(ErrorKind::unsupported, "this service does not attach");
}
void ContainerService::resize(const std::string&, unsigned, unsigned) {
    throw make_error(ErrorKind::unsupported, "this service has no terminals");
}
void ContainerService::resize_exec(const std::string&, unsigned, unsigned) {
    throw no_exec();
}
void ContainerService::attach(const std::string&, const AttachRequest&, Fd) {
    throw make_error(ErrorKind::unsupported, "this service does not attach");
}
void ContainerService::start_exec_attached(const std::string&, const AttachRequest&, Fd) {
    throw no_exec();
}

}  // namespace truman::daemon
