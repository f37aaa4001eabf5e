#include "vigil/web/web.h"

#include <string_view>
#include <utility>
#include <vector>

namespace vigil::web {

// Generated from web/dist by CMake (assets.cc): path under dist, contents.
const std::vector<std::pair<std::string_view, std::string_view>>& Assets();

namespace {

std::string_view ContentType(std::string_view path) {
  if (path.ends_with(".html")) return "text/html; charset=utf-8";
  if (path.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (path.ends_with(".css")) return "text/css; charset=utf-8";
  if (path.ends_with(".json")) return "application/json";
  return "application/octet-stream";
}

const std::string_view* Find(std::string_view path) {
  for (const auto& [p, body] : Assets()) {
    if (p == path) return &body;
  }
  return nullptr;
}

}  // namespace

void AddRoutes(http::Router& router) {
  router.Get("/", [](const http::Request&, http::Response& res) {
    const std::string_view* page = Find("index.html");
    res.status = 200;
    res.content_type = std::string(ContentType("index.html"));
    res.body = std::string(*page);
  });
  router.Get("/ui/*", [](const http::Request& req, http::Response& res) {
    const std::string_view path = std::string_view(req.path).substr(4);
    const std::string_view* body = Find(path);
    if (body == nullptr) {
      res = http::Response::Text(404, "404 page not found\n");
      return;
    }
    res.status = 200;
    res.content_type = std::string(ContentType(path));
    res.headers.emplace_back("Cache-Control", "no-cache");
    res.body = std::string(*body);
  });
}

}  // namespace vigil::web
