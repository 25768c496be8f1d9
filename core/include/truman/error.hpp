// The one error type of the truman library.
//
// Every parent-side failure is a truman::Error: a std::system_error carrying the errno, a kind
// that the API layer maps to an HTTP status, and a message that names what was being done
// ("mount proc on /r/proc: Operation not permitted"). Validation errors carry EINVAL but their
// message is just "field: why", without a strerror suffix.
//
// An error about one input field also keeps that field apart from the reason. The field is
// named in the caller's own terms (core: the OCI path, "linux.resources.memory.limit"); a
// front-end with other names for the same thing (the API's "resources.memory", trumanctl's
// "--memory") re-addresses the error with with_field() instead of parsing the message.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
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

    // A problem with one field: what() is "field: why".
    Error(ErrorKind kind, int err, std::string field, std::string why)
        : std::system_error(err, std::generic_category()),
          kind_(kind),
          message_(field + ": " + why),
          field_(std::move(field)),
          reason_(std::move(why)) {}

    ErrorKind kind() const noexcept { return kind_; }
    int err() const noexcept { return code().value(); }
    const char* what() const noexcept override { return message_.c_str(); }

    // The field the error is about ("" when it is not about one field), and what is wrong
    // with it (the whole message when there is no field).
    const std::string& field() const noexcept { return field_; }
    const std::string& reason() const noexcept { return field_.empty() ? message_ : reason_; }

    // The same error about the same value, named as another caller knows the field.
    Error with_field(std::string field) const {
        return Error(kind_, err(), std::move(field), reason());
    }

  private:
    ErrorKind kind_;
    std::string message_;
    std::string field_;
    std::string reason_;
};

// Field paths as errors name them: "linux" + "resources" -> "linux.resources" ("" + "process"
// -> "process"), and "process.env" + 2 -> "process.env[2]".
std::string field_path(const std::string& parent, std::string_view key);
std::string index_path(const std::string& parent, size_t index);

// Bad input in a named field: "process.args: must not be empty".
Error invalid_argument(const std::string& field, const std::string& why);

// A field asking for something truman does not do: "process.terminal: not supported by truman".
Error unsupported_argument(const std::string& field, const std::string& why);

// strerror(err), thread-safe: trumand's threads build error messages concurrently, and
// strerror may return a buffer another thread overwrites.
std::string errno_text(int err);

// A system call failed: "what: strerror(err)". err defaults to the current errno.
Error system_error(const std::string& what, int err = errno);

// Any kind, with "what: strerror(err)" when err != 0 and just "what" otherwise.
Error make_error(ErrorKind kind, const std::string& what, int err = 0);

}  // namespace truman
