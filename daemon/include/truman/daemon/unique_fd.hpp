// The daemon's owned file descriptor is core's.
#pragma once

#include "truman/fd.hpp"

namespace truman::daemon {

using UniqueFd = truman::Fd;

}  // namespace truman::daemon
