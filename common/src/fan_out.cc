#include "vigil/common/fan_out.h"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

#include <future>

#include "vigil/common/self_metrics.h"

namespace vigil::http {
namespace {

using nlohmann::json;

// One shard's answer to one target: its JSON, or why not (`refused`: a 4xx).
struct One {
  json doc;
  Status error;
  bool refused = false;
};

One Fetch(HttpClient& client, const std::string& url) {
  One out;
  auto r = client.Get(url);
  if (!r.ok()) {
    out.error = r.status();
    return out;
  }
  auto j = json::parse(r->body, nullptr, false);
  // Prometheus puts the error in JSON, Loki in plain text.
  std::string why = j.is_object() && j.contains("error") && j["error"].is_string()
                        ? j["error"].get<std::string>()
                        : r->body.substr(0, 300);
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  if (r->status >= 400 && r->status < 500) {
    out.refused = true;
    out.error = r->status == 422 ? FailedPrecondition(why) : InvalidArgument(why);
    return out;
  }
  if (r->status != 200 || !j.is_object() || j.value("status", "") == "error") {
    out.error = Unavailable("HTTP " + std::to_string(r->status) + ": " + why);
    return out;
  }
  out.doc = std::move(j);
  return out;
}

}  // namespace

Result<std::vector<std::string>> ShardUrls(const std::vector<std::string>& items) {
  std::vector<std::string> urls;
  for (const auto& item : items) {
    for (size_t at = 0; at <= item.size();) {
      const size_t comma = std::min(item.find(',', at), item.size());
      if (comma > at) urls.push_back(item.substr(at, comma - at));
      at = comma + 1;
    }
  }
  for (const auto& u : urls) {
    if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) {
      return InvalidArgument("--query-shards: \"" + u + "\" is not an http:// or https:// URL");
    }
  }
  return urls;
}

FanOut::FanOut(std::vector<std::string> urls, std::chrono::milliseconds timeout,
               const std::string& component)
    : urls_(std::move(urls)) {
  ClientOptions o;
  o.request_timeout = timeout;
  o.connect_timeout = std::min(timeout, std::chrono::milliseconds(5'000));
  o.max_response_bytes = 1ULL << 30;
  o.user_agent = "vigil-" + component;
  for (auto& u : urls_) {
    while (!u.empty() && u.back() == '/') u.pop_back();
    clients_.push_back(std::make_unique<HttpClient>(o));
  }
  auto& fam = prometheus::BuildCounter()
                  .Name("vigil_" + component + "_shard_requests_total")
                  .Help("Requests to the shards of --query-shards, by result.")
                  .Register(SelfMetrics());
  ok_ = &fam.Add({{"result", "ok"}});
  failed_ = &fam.Add({{"result", "failed"}});
}

FanOut::~FanOut() = default;

FanOut::Gathered FanOut::Gather(const std::vector<std::string>& targets) const {
  std::vector<std::vector<std::future<One>>> futures(urls_.size());
  for (size_t i = 0; i < urls_.size(); ++i) {
    for (const std::string& target : targets) {
      futures[i].push_back(std::async(std::launch::async, [this, i, target] {
        return Fetch(*clients_[i], urls_[i] + target);
      }));
    }
  }
  Gathered out;
  Status unavailable;
  for (size_t i = 0; i < futures.size(); ++i) {
    Gathered::Shard shard{i, {}};
    Status failed;
    std::vector<std::string> passed_on;
    for (auto& f : futures[i]) {
      One one = f.get();
      if (!one.error.ok()) {
        if (one.refused && out.error.ok()) {
          out.error = Status(one.error.code(), "shard " + urls_[i] + ": " + one.error.message());
        }
        if (failed.ok()) failed = one.error;
        continue;
      }
      if (one.doc["warnings"].is_array()) {
        for (const auto& w : one.doc["warnings"]) {
          if (w.is_string()) passed_on.push_back("shard " + urls_[i] + ": " + w.get<std::string>());
        }
      }
      shard.docs.push_back(std::move(one.doc));
    }
    if (failed.ok()) {
      ok_->Increment();
      out.shards.push_back(std::move(shard));
      out.warnings.insert(out.warnings.end(), passed_on.begin(), passed_on.end());
      continue;
    }
    failed_->Increment();
    const std::string warning = "shard " + urls_[i] + ": " + failed.message();
    spdlog::warn("{}", warning);
    if (unavailable.ok()) unavailable = Unavailable(warning);
    out.warnings.push_back(warning);
  }
  if (out.error.ok() && out.shards.empty() && !urls_.empty()) out.error = unavailable;
  if (!out.error.ok()) out.shards.clear();
  return out;
}

}  // namespace vigil::http
