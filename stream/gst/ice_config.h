// ICE settings for every webrtcbin the service creates: STUN/TURN servers and the local addresses
// candidates may use. An empty address list lets libnice use every interface; tests pass
// {"127.0.0.1"} so no packet leaves the loopback interface.
#pragma once

#include <string>
#include <vector>

typedef struct _GstElement GstElement;

namespace ditstream::stream {

struct IceConfig {
  std::string stun_server;                 // "stun://host:port", empty for none
  std::vector<std::string> turn_servers;   // "turn://user:pass@host:port"
  std::vector<std::string> local_addresses;  // IP addresses or interface names

  // Throws Error(invalid_argument) naming the field for a malformed server URL or unknown interface.
  void validate() const;
};

// Applies the config to a webrtcbin before it gathers: servers, local addresses, no ICE-TCP, no
// UPnP (which would multicast on the LAN).
void apply_ice_config(GstElement* webrtcbin, const IceConfig& config);

}  // namespace ditstream::stream
