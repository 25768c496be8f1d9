// Descriptor helpers internal to core: the owned Fd (public, truman/fd.hpp) and pipes.
#pragma once

#include "truman/fd.hpp"

namespace truman::detail {

using truman::Fd;

// pipe2(O_CLOEXEC) into two owned ends; throws truman::Error.
struct Pipe {
    Fd read, write;
};
Pipe make_pipe();

}  // namespace truman::detail
