#include "monitor_async.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <istream>
#include <memory>

#include "callbacks.hpp"
#include "truman/error.hpp"

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;

namespace truman::daemon {

namespace {

struct Ask {
    Ask(asio::io_context& io, const std::string& path, std::string line,
        std::function<void(std::exception_ptr, MonitorReply)> callback)
        : socket(io),
          address(path),
          socket_path(path),
          request(std::move(line)),
          done(std::move(callback)) {}

    stream::socket socket;
    UnixSocketAddress address;  // keeps a long path's directory open until connected
    std::string socket_path;
    std::string request;
    asio::streambuf reply{size_t{64} * 1024};
    std::function<void(std::exception_ptr, MonitorReply)> done;

    void fail(const std::string& what, const boost::system::error_code& ec) {
        call_safely(
            "monitor reply", done,
            std::make_exception_ptr(make_error(
                ErrorKind::system, what + " " + socket_path + ": " + ec.message(), ec.value())),
            MonitorReply{});
    }
};

}  // namespace

void async_ask_monitor(asio::io_context& io, const std::string& socket_path,
                       const ControlCommand& command,
                       const std::function<void(std::exception_ptr, MonitorReply)>& done) {
    std::shared_ptr<Ask> ask;
    try {
        ask = std::make_shared<Ask>(io, socket_path, encode_command(command), done);
    } catch (...) {
        asio::post(io, [done, error = std::current_exception()] {
            call_safely("monitor reply", done, error, MonitorReply{});
        });
        return;
    }
    stream::endpoint endpoint;
    std::memcpy(endpoint.data(), ask->address.get(), ask->address.size());
    endpoint.resize(ask->address.size());
    ask->socket.async_connect(endpoint, [ask](const boost::system::error_code& ec) {
        if (ec) return ask->fail("connect", ec);
        asio::async_write(ask->socket, asio::buffer(ask->request),
                          [ask](const boost::system::error_code& ec, size_t) {
                              if (ec) return ask->fail("send to", ec);
                              asio::async_read_until(
                                  ask->socket, ask->reply, '\n',
                                  [ask](const boost::system::error_code& ec, size_t) {
                                      if (ec) return ask->fail("read from", ec);
                                      std::istream in(&ask->reply);
                                      std::string line;
                                      std::getline(in, line);
                                      try {
                                          MonitorReply reply = parse_reply(line);
                                          throw_if_failed(reply);
                                          call_safely("monitor reply", ask->done, nullptr, reply);
                                      } catch (...) {
                                          call_safely("monitor reply", ask->done,
                                                      std::current_exception(), MonitorReply{});
                                      }
                                  });
                          });
    });
}

}  // namespace truman::daemon
