#include "stream/gst/ice_config.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <gst/gst.h>
#include <nice/agent.h>

#include "core/util/error.h"

namespace ditstream::stream {
namespace {

bool is_ip_literal(const std::string& text) {
  in_addr v4;
  in6_addr v6;
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 || inet_pton(AF_INET6, text.c_str(), &v6) == 1;
}

// The addresses of a named interface (IPv4 and IPv6, link-local IPv6 left out).
std::vector<std::string> interface_addresses(const std::string& name) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || name != a->ifa_name) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, text, sizeof(text));
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      const auto* addr = &reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr;
      if (IN6_IS_ADDR_LINKLOCAL(addr)) continue;
      inet_ntop(AF_INET6, addr, text, sizeof(text));
    } else {
      continue;
    }
    out.emplace_back(text);
  }
  freeifaddrs(list);
  return out;
}

std::vector<std::string> resolve(const std::vector<std::string>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) {
    if (is_ip_literal(e)) {
      out.push_back(e);
      continue;
    }
    const auto addrs = interface_addresses(e);
    if (addrs.empty()) throw_invalid("ice", "ice_interface", "'" + e + "' is neither an IP address nor an interface with an address");
    out.insert(out.end(), addrs.begin(), addrs.end());
  }
  return out;
}

void set_if_present(GObject* object, const char* property, gboolean value) {
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(object), property)) g_object_set(object, property, value, nullptr);
}

}  // namespace

void IceConfig::validate() const {
  if (!stun_server.empty() && stun_server.rfind("stun://", 0) != 0) {
    throw_invalid("ice", "stun", "'" + stun_server + "' must look like stun://host:port");
  }
  for (const auto& t : turn_servers) {
    if (t.rfind("turn://", 0) != 0 && t.rfind("turns://", 0) != 0) {
      throw_invalid("ice", "turn", "'" + t + "' must look like turn://user:password@host:port");
    }
  }
  resolve(local_addresses);
}

void apply_ice_config(GstElement* webrtcbin, const IceConfig& config) {
  if (!config.stun_server.empty()) g_object_set(webrtcbin, "stun-server", config.stun_server.c_str(), nullptr);
  for (const auto& t : config.turn_servers) {
    gboolean ok = FALSE;
    g_signal_emit_by_name(webrtcbin, "add-turn-server", t.c_str(), &ok);
    if (!ok) throw_invalid("ice", "turn", "webrtcbin rejected TURN server '" + t + "'");
  }
  GObject* ice = nullptr;
  g_object_get(webrtcbin, "ice-agent", &ice, nullptr);
  if (!ice) throw Error(ErrorKind::unavailable, "ice", "", "webrtcbin has no ICE agent");
  set_if_present(ice, "ice-tcp", FALSE);
  GObject* agent = nullptr;
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(ice), "agent")) g_object_get(ice, "agent", &agent, nullptr);
  if (agent) {
    set_if_present(agent, "ice-tcp", FALSE);
    set_if_present(agent, "upnp", FALSE);
    for (const auto& address : resolve(config.local_addresses)) {
      NiceAddress a;
      nice_address_init(&a);
      if (!nice_address_set_from_string(&a, address.c_str()) || !nice_agent_add_local_address(NICE_AGENT(agent), &a)) {
        g_object_unref(agent);
        g_object_unref(ice);
        throw_invalid("ice", "ice_interface", "cannot use local address '" + address + "'");
      }
    }
    g_object_unref(agent);
  } else if (!config.local_addresses.empty()) {
    g_object_unref(ice);
    throw Error(ErrorKind::unavailable, "ice", "ice_interface", "the ICE agent does not expose libnice; cannot restrict addresses");
  }
  g_object_unref(ice);
}

}  // namespace ditstream::stream
