// The browser UI: files of one fixed folder, listed once at start. A request names a file of that
// list or gets a 404; no part of a path is ever joined to a filesystem path.
#include <fstream>
#include <map>
#include <sstream>

#include "core/util/error.h"
#include "web/api/routes.h"

namespace ditstream::web {
namespace {

std::string content_type_for(const std::filesystem::path& file) {
  static const std::map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
      {".ico", "image/x-icon"}, {".json", "application/json"}};
  const auto it = types.find(file.extension().string());
  return it == types.end() ? "application/octet-stream" : it->second;
}

struct UiFile {
  std::string content_type;
  std::string body;
};

}  // namespace

void add_ui_routes(Router& router, RouteContext& c) {
  auto files = std::make_shared<std::map<std::string, UiFile>>();
  std::error_code ec;
  if (std::filesystem::is_directory(c.ui_folder, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(c.ui_folder)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream body;
      body << in.rdbuf();
      (*files)[entry.path().filename().string()] = {content_type_for(entry.path()), body.str()};
    }
  }
  auto serve = [files](const std::string& name) {
    const auto it = files->find(name);
    if (it == files->end()) throw Error(ErrorKind::not_found, "ui", "path", "no UI file '" + name.substr(0, 64) + "'");
    HttpResponse r = HttpResponse::text(200, it->second.body, it->second.content_type);
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
  };
  router.add({"GET", "/", [serve](const HttpRequest&, const PathParams&) { return serve("index.html"); }});
  router.add({"GET", "/ui/{file}", [serve](const HttpRequest&, const PathParams& p) { return serve(p[0]); }});
}

}  // namespace ditstream::web
