// The one error type of the truman library.
//
// Every parent-side failure is a truman::Error: a std::system_error carrying the errno, a kind
// that the API layer maps to an HTTP status, and a message that names what was being done
// ("mount proc on /r/proc: Operation not permitted"). Validation errors carry EINVAL but their
// message is just "field: why", without a strerror suffix.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

namespace truman {

enum class ErrorKind {
    invalid,      // bad input: a spec field, a name, a flag (HTTP 400)
    not_found,    // a container, image, path or syscall name that does not exist (404)
    conflict,     // state does not allow it: already running, name taken (409)
    unsupported,  // valid but not supported by truman or this kernel (400)
    system,       // the kernel or the machine failed us (500)
};

const char* to_string(ErrorKind kind) noexcept;

class Error : public std::system_error {
  public:
    // message is the whole text returned by what().
    Error(ErrorKind kind, int err, std::string message)
        : std::system_error(err, std::generic_category()),
          kind_(kind),
          message_(std::move(message)) {}

    ErrorKind kind() const noexcept { return kind_; }
    int err() const noexcept { return code().value(); }
    const char* what() const noexcept override { return message_.c_str(); }

  private:
    ErrorKind kind_;
    std::string message_;
};

// Bad input in a named field: "process.args: must not be empty".
Error invalid_argument(const std::string& field, const std::string& why);

// A system call failed: "what: strerror(err)". err defaults to the current errno.
Error system_error(const std::string& what, int err = errno);

// Any kind, with "what: strerror(err)" when err != 0 and just "what" otherwise.
Error make_error(ErrorKind kind, const std::string& what, int err = 0);

}  // namespace truman
