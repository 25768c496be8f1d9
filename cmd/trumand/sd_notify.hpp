// systemd's readiness protocol without libsystemd: one datagram to $NOTIFY_SOCKET.
#pragma once

#include <string>

namespace truman::trumand {

// Sends state ("READY=1", "STOPPING=1") if NOTIFY_SOCKET is set; an address starting with '@'
// is in the abstract namespace. Returns false when not under a notifying manager or the send
// failed (logged): readiness is advisory, never a reason to stop.
bool sd_notify(const std::string& state);

}  // namespace truman::trumand
