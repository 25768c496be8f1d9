// The container service's facade: ContainerService over the registry (registry.hpp), each
// call forwarded to its verb (verbs.hpp, one file each).
#include <boost/asio/post.hpp>

#include "callbacks.hpp"
#include "image_verbs.hpp"
#include "registry.hpp"
#include "truman/daemon/make_service.hpp"
#include "verbs.hpp"

namespace asio = boost::asio;

namespace truman::daemon {

namespace {

class Service : public ContainerService, public NetworkService {
  public:
    Service(asio::io_context& io, const ServiceOptions& options)
        : io_(io), registry_(std::make_shared<ContainerRegistry>(io, options)) {
        registry_->open();
    }
    ~Service() override { registry_->close(); }

    std::string create(const CreateRequest& request) override {
        return verbs::create(*registry_, request);
    }
    std::vector<ContainerInfo> list(std::optional<Status> filter) override {
        return verbs::list(*registry_, filter);
    }
    ContainerInfo inspect(const std::string& ref) override {
        return verbs::inspect(*registry_, ref);
    }
    void start(const std::string& ref) override { verbs::start(*registry_, ref); }
    void kill(const std::string& ref, int signal) override { verbs::kill(*registry_, ref, signal); }
    // The asynchronous calls report every error, an unknown ref included, through their
    // callback (on the io_context), so a caller has one place to handle them.
    void async_stop(const std::string& ref, std::chrono::seconds timeout, int signal,
                    std::function<void(std::exception_ptr)> done) override {
        try {
            verbs::stop(*registry_, ref, timeout, signal, done);
        } catch (const std::exception&) {
            asio::post(io_, [done, error = std::current_exception()] {
                call_safely("stop", done, error);
            });
        }
    }
    void remove(const std::string& ref, bool force) override {
        verbs::remove(*registry_, ref, force);
    }
    void async_wait(const std::string& ref, WaitCallback done) override {
        try {
            verbs::wait(*registry_, ref, done);
        } catch (const std::exception&) {
            asio::post(io_, [done, error = std::current_exception()] {
                call_safely("wait", done, error, ContainerState{});
            });
        }
    }
    std::unique_ptr<Subscription> logs(const std::string& ref, const LogOptions& options,
                                       std::function<void(const LogLine&)> on_line,
                                       std::function<void()> on_end) override {
        return verbs::logs(*registry_, ref, options, std::move(on_line), std::move(on_end));
    }
    std::unique_ptr<Subscription> events(std::function<void(const Event&)> on_event) override {
        return registry_->subscribe(std::move(on_event));
    }
    DaemonInfo info() override { return verbs::info(*registry_); }
    std::unique_ptr<Subscription> seccomp(const std::string& ref, const SeccompOptions& options,
                                          std::function<void(const SeccompRecord&)> on_record,
                                          std::function<void()> on_end) override {
        return verbs::seccomp(*registry_, ref, options, std::move(on_record), std::move(on_end));
    }
    Seccomp seccomp_profile(const std::string& ref) override {
        return verbs::seccomp_profile(*registry_, ref);
    }

    std::string create_exec(const std::string& ref, const ExecRequest& request) override {
        return verbs::create_exec(*registry_, ref, request);
    }
    ExecInfo start_exec(const std::string& exec_id) override {
        return verbs::start_exec(*registry_, exec_id);
    }
    ExecInfo inspect_exec(const std::string& exec_id) override {
        return verbs::inspect_exec(*registry_, exec_id);
    }
    void async_run_exec(const std::string& exec_id,
                        std::function<void(std::exception_ptr, ExecInfo)> done) override {
        async_exec_call("run exec", verbs::run_exec, exec_id, done);
    }
    void async_wait_exec(const std::string& exec_id,
                         std::function<void(std::exception_ptr, ExecInfo)> done) override {
        async_exec_call("wait exec", verbs::wait_exec, exec_id, done);
    }
    std::string exec_output(const std::string& exec_id) override {
        return verbs::exec_output(*registry_, exec_id);
    }
    bool check_attach(const std::string& ref) override {
        return verbs::check_attach(*registry_, ref);
    }
    void resize(const std::string& ref, unsigned height, unsigned width) override {
        verbs::resize(*registry_, ref, height, width);
    }
    void resize_exec(const std::string& exec_id, unsigned height, unsigned width) override {
        verbs::resize_exec(*registry_, exec_id, height, width);
    }
    void attach(const std::string& ref, const AttachRequest& request, Fd connection) override {
        verbs::attach(*registry_, ref, request, std::move(connection));
    }
    void start_exec_attached(const std::string& exec_id, const AttachRequest& request,
                             Fd connection) override {
        verbs::start_exec_attached(*registry_, exec_id, request, std::move(connection));
    }
    NetworkService* network_service() override { return this; }

    NetworkInfo create_network(const NetworkCreateRequest& request) override {
        return registry_->networks().create(request);
    }
    std::vector<NetworkInfo> list_networks() override { return registry_->networks().list(); }
    NetworkInfo inspect_network(const std::string& name) override {
        return registry_->networks().get(name);
    }
    void remove_network(const std::string& name) override { registry_->networks().remove(name); }
    void connect_network(const std::string& network,
                         const NetworkConnectRequest& request) override {
        verbs::connect_network(*registry_, network, request);
    }
    void disconnect_network(const std::string& network, const std::string& container) override {
        verbs::disconnect_network(*registry_, network, container);
    }

    void async_pull_image(const PullRequest& request,
                          std::function<void(const PullProgressEvent&)> on_progress,
                          std::function<void(std::exception_ptr, ImageInfo)> done) override {
        verbs::pull_image(*registry_, request, std::move(on_progress), std::move(done));
    }
    std::vector<ImageInfo> list_images() override { return verbs::list_images(*registry_); }
    ImageInfo inspect_image(const std::string& ref) override {
        return verbs::inspect_image(*registry_, ref);
    }
    void remove_image(const std::string& ref, bool force) override {
        verbs::remove_image(*registry_, ref, force);
    }
    ImageInfo tag_image(const std::string& ref, const std::string& new_ref) override {
        return verbs::tag_image(*registry_, ref, new_ref);
    }
    std::vector<ImageInfo> import_images(const ImageSource& source,
                                         const std::string& tag) override {
        return verbs::import_images(*registry_, source, tag);
    }
    ImageExporter export_image(const std::string& ref) override {
        return verbs::export_image(*registry_, ref);
    }
    void login_registry(const LoginRequest& request) override {
        verbs::login_registry(*registry_, request);
    }
    void logout_registry(const std::string& registry) override {
        verbs::logout_registry(*registry_, registry);
    }

  private:
    using ExecDone = std::function<void(std::exception_ptr, ExecInfo)>;
    // An asynchronous exec verb whose checks may throw before it is under way: that error,
    // too, reaches done on the io_context.
    void async_exec_call(const char* what,
                         void (*verb)(ContainerRegistry&, const std::string&, const ExecDone&),
                         const std::string& exec_id, const ExecDone& done) {
        try {
            verb(*registry_, exec_id, done);
        } catch (const std::exception&) {
            asio::post(io_, [what, done, error = std::current_exception()] {
                call_safely(what, done, error, ExecInfo{});
            });
        }
    }

    asio::io_context& io_;
    std::shared_ptr<ContainerRegistry> registry_;
};

}  // namespace

std::unique_ptr<ContainerService> make_container_service(asio::io_context& io,
                                                         const ServiceOptions& options) {
    return std::make_unique<Service>(io, options);
}

}  // namespace truman::daemon
