// WHEP (WebRTC-HTTP Egress Protocol) for a job's live stream: POST an SDP offer, get the answer
// with all host candidates and a session URL; DELETE the session URL to leave. No trickle ICE, so
// PATCH on a session answers 405, as the draft asks of servers without it.
#include "core/util/error.h"
#include "web/api/routes.h"

namespace ditstream::web {

void add_whep_routes(Router& router, RouteContext& c) {
  auto options = [](const HttpRequest&, const PathParams&) {
    HttpResponse r = HttpResponse::text(204, "", "text/plain");
    r.headers.emplace_back("Accept-Post", "application/sdp");
    return r;
  };
  router.add({"OPTIONS", "/v1/videos/{id}/whep", options, false, "", true});
  router.add({"POST", "/v1/videos/{id}/whep",
              [&c](const HttpRequest& req, const PathParams& p) {
                const auto& id = checked_id(p[0]);
                check_sdp_offer(req.body, c.limits);
                const auto record = c.queue.get(id);  // 404 for unknown ids before touching WebRTC
                const auto answer = c.hub.add_viewer(record.id, req.body);
                HttpResponse r = HttpResponse::text(201, answer.sdp, "application/sdp");
                r.headers.emplace_back("Location", "/v1/videos/" + id + "/whep/" + answer.session_id);
                r.headers.emplace_back("ETag", "\"" + answer.session_id + "\"");
                return r;
              },
              true, "application/sdp", true});
  router.add({"OPTIONS", "/v1/videos/{id}/whep/{session}", options, false, "", true});
  router.add({"DELETE", "/v1/videos/{id}/whep/{session}",
              [&c](const HttpRequest&, const PathParams& p) {
                const auto& id = checked_id(p[0]);
                if (p[1].size() != 16 || p[1].find_first_not_of("0123456789abcdef") != std::string::npos) {
                  throw Error(ErrorKind::not_found, "WHEP", "session", "'" + p[1].substr(0, 64) + "' is not a session id");
                }
                c.hub.remove_viewer(id, p[1]);
                return HttpResponse::text(200, "{}", "application/json");
              },
              true, "", true});
}

}  // namespace ditstream::web
