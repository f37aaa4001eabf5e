#include "scrape_config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <functional>
#include <set>

#include "vigil/common/config.h"
#include "vigil/common/duration.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;

// Keys of Prometheus' scrape_config that the agent does not implement: named as such in the
// error, so a user knows the file is valid Prometheus but asks for more than vigil does.
const std::set<std::string, std::less<>>& KnownUnsupported() {
  static const auto* keys = new std::set<std::string, std::less<>>{"basic_auth",
                                                                   "authorization",
                                                                   "oauth2",
                                                                   "tls_config",
                                                                   "proxy_url",
                                                                   "follow_redirects",
                                                                   "enable_http2",
                                                                   "bearer_token",
                                                                   "bearer_token_file",
                                                                   "label_limit",
                                                                   "label_name_length_limit",
                                                                   "label_value_length_limit",
                                                                   "target_limit",
                                                                   "no_proxy",
                                                                   "proxy_from_environment",
                                                                   "proxy_connect_header",
                                                                   "scrape_classic_histograms",
                                                                   "native_histogram_bucket_limit"};
  return *keys;
}

class Parser {
 public:
  explicit Parser(std::string_view file) : file_(file) {}

  Status Error(const YAML::Node& n, const std::string& what) const { return Error(n.Mark(), what); }
  Status Error(const YAML::Mark& m, const std::string& what) const {
    return Status(StatusCode::kInvalidArgument, std::string(file_) + ":" +
                                                    std::to_string(m.line + 1) + ":" +
                                                    std::to_string(m.column + 1) + ": " + what);
  }

  // Calls fn for each key of a mapping; an unknown key is an error.
  Status Keys(const YAML::Node& n, std::string_view where, const std::set<std::string>& allowed,
              const std::function<Status(const std::string&, const YAML::Node&)>& fn) const {
    if (n.IsNull()) return Status::Ok();
    if (!n.IsMap()) return Error(n, std::string(where) + ": expected a mapping");
    for (const auto& kv : n) {
      const std::string key = kv.first.Scalar();
      if (!allowed.contains(key)) {
        if (KnownUnsupported().contains(key) || key.ends_with("_sd_configs")) {
          return Error(kv.first, std::string(where) + ": \"" + key +
                                     "\" is valid in Prometheus but not supported by the vigil "
                                     "agent");
        }
        return Error(kv.first, std::string(where) + ": unknown key \"" + key + "\"");
      }
      VIGIL_RETURN_IF_ERROR(fn(key, kv.second));
    }
    return Status::Ok();
  }

  Result<std::string> Str(const YAML::Node& n, std::string_view key) const {
    if (!n.IsScalar()) return Error(n, std::string(key) + ": expected a string");
    return n.Scalar();
  }
  Result<milliseconds> Dur(const YAML::Node& n, std::string_view key) const {
    VIGIL_ASSIGN_OR_RETURN(std::string s, Str(n, key));
    auto d = ParseDuration(s);
    if (!d.ok()) return Error(n, std::string(key) + ": " + d.status().message());
    return *d;
  }
  Result<bool> Bool(const YAML::Node& n, std::string_view key) const {
    VIGIL_ASSIGN_OR_RETURN(std::string s, Str(n, key));
    if (s == "true") return true;
    if (s == "false") return false;
    return Error(n, std::string(key) + ": expected true or false, got \"" + s + "\"");
  }
  Result<uint64_t> Count(const YAML::Node& n, std::string_view key) const {
    VIGIL_ASSIGN_OR_RETURN(std::string s, Str(n, key));
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
      return Error(n, std::string(key) + ": expected a non-negative integer, got \"" + s + "\"");
    }
    return v;
  }
  Result<uint64_t> Bytes(const YAML::Node& n, std::string_view key) const {
    VIGIL_ASSIGN_OR_RETURN(std::string s, Str(n, key));
    auto b = ParseBytes(s);
    if (!b.ok()) return Error(n, std::string(key) + ": " + b.status().message());
    return *b;
  }
  Result<std::vector<std::string>> StrList(const YAML::Node& n, std::string_view key) const {
    if (n.IsNull()) return std::vector<std::string>{};
    if (!n.IsSequence()) return Error(n, std::string(key) + ": expected a list of strings");
    std::vector<std::string> out;
    for (const auto& e : n) {
      VIGIL_ASSIGN_OR_RETURN(std::string s, Str(e, key));
      out.push_back(std::move(s));
    }
    return out;
  }
  Result<Labels> LabelMap(const YAML::Node& n, std::string_view key) const {
    if (n.IsNull()) return Labels();
    if (!n.IsMap()) return Error(n, std::string(key) + ": expected a mapping of labels");
    std::vector<Label> pairs;
    for (const auto& kv : n) {
      const std::string name = kv.first.Scalar();
      if (!IsValidLabelName(name)) {
        return Error(kv.first, std::string(key) + ": \"" + name + "\" is not a valid label name");
      }
      VIGIL_ASSIGN_OR_RETURN(std::string v, Str(kv.second, name));
      if (!IsValidUtf8(v)) return Error(kv.second, name + ": value is not valid UTF-8");
      pairs.push_back({name, std::move(v)});
    }
    auto labels = Labels::FromPairs(std::move(pairs));
    if (!labels.ok()) return Error(n, std::string(key) + ": " + labels.status().message());
    return *labels;
  }

  Result<std::vector<TargetGroup>> Groups(const YAML::Node& n, std::string_view key) const {
    if (n.IsNull()) return std::vector<TargetGroup>{};
    if (!n.IsSequence()) return Error(n, std::string(key) + ": expected a list of target groups");
    std::vector<TargetGroup> out;
    for (const auto& g : n) {
      TargetGroup group;
      VIGIL_RETURN_IF_ERROR(Keys(g, key, {"targets", "labels"},
                                 [&](const std::string& k, const YAML::Node& v) -> Status {
                                   if (k == "targets") {
                                     VIGIL_ASSIGN_OR_RETURN(group.targets, StrList(v, k));
                                   } else {
                                     VIGIL_ASSIGN_OR_RETURN(group.labels, LabelMap(v, k));
                                   }
                                   return Status::Ok();
                                 }));
      out.push_back(std::move(group));
    }
    return out;
  }

  Result<std::vector<RelabelRule>> Rules(const YAML::Node& n, std::string_view key) const {
    if (n.IsNull()) return std::vector<RelabelRule>{};
    if (!n.IsSequence()) return Error(n, std::string(key) + ": expected a list of rules");
    std::vector<RelabelRule> out;
    for (const auto& r : n) {
      RelabelRule rule;
      bool has_target = false;
      // A mark, not a Node: assigning to a yaml-cpp Node would overwrite the node it refers to.
      YAML::Mark regex_mark = r.Mark();
      VIGIL_RETURN_IF_ERROR(Keys(
          r, key,
          {"source_labels", "separator", "regex", "target_label", "replacement", "action",
           "modulus"},
          [&](const std::string& k, const YAML::Node& v) -> Status {
            if (k == "source_labels") {
              VIGIL_ASSIGN_OR_RETURN(rule.source_labels, StrList(v, k));
              for (const auto& l : rule.source_labels) {
                if (!IsValidLabelName(l))
                  return Error(v, k + ": \"" + l + "\" is not a label name");
              }
            } else if (k == "separator") {
              VIGIL_ASSIGN_OR_RETURN(rule.separator, Str(v, k));
            } else if (k == "regex") {
              VIGIL_ASSIGN_OR_RETURN(rule.regex_text, Str(v, k));
              regex_mark = v.Mark();
            } else if (k == "target_label") {
              VIGIL_ASSIGN_OR_RETURN(rule.target_label, Str(v, k));
              has_target = true;
            } else if (k == "replacement") {
              VIGIL_ASSIGN_OR_RETURN(rule.replacement, Str(v, k));
            } else if (k == "modulus") {
              return Error(v, "modulus: the hashmod action is not supported by the vigil agent");
            } else {
              VIGIL_ASSIGN_OR_RETURN(std::string a, Str(v, k));
              static const std::map<std::string, RelabelAction> actions = {
                  {"replace", RelabelAction::kReplace},
                  {"keep", RelabelAction::kKeep},
                  {"drop", RelabelAction::kDrop},
                  {"labelmap", RelabelAction::kLabelMap},
                  {"labeldrop", RelabelAction::kLabelDrop},
                  {"labelkeep", RelabelAction::kLabelKeep},
                  {"lowercase", RelabelAction::kLowercase},
                  {"uppercase", RelabelAction::kUppercase}};
              auto it = actions.find(a);
              if (it == actions.end()) {
                return Error(v, "action: \"" + a +
                                    "\" is not one of replace, keep, drop, labelmap, labeldrop, "
                                    "labelkeep, lowercase, uppercase");
              }
              rule.action = it->second;
            }
            return Status::Ok();
          }));
      auto re = CompileRelabelRegex(rule.regex_text);
      if (!re.ok()) return Error(regex_mark, "regex: " + re.status().message());
      rule.regex = *re;
      const bool needs_target = rule.action == RelabelAction::kReplace ||
                                rule.action == RelabelAction::kLowercase ||
                                rule.action == RelabelAction::kUppercase;
      if (needs_target && !has_target) {
        return Error(r, "relabel action requires target_label");
      }
      if ((rule.action == RelabelAction::kLowercase || rule.action == RelabelAction::kUppercase) &&
          !IsValidLabelName(rule.target_label)) {
        return Error(r, "\"" + rule.target_label + "\" is not a valid label name");
      }
      if ((rule.action == RelabelAction::kLabelDrop || rule.action == RelabelAction::kLabelKeep) &&
          (!rule.source_labels.empty() || has_target)) {
        return Error(r, "labeldrop and labelkeep take only regex");
      }
      out.push_back(std::move(rule));
    }
    return out;
  }

  Result<ScrapeJob> Job(const YAML::Node& n) const {
    ScrapeJob job;
    VIGIL_RETURN_IF_ERROR(
        Keys(n, "scrape_configs",
             {"job_name", "scrape_interval", "scrape_timeout", "metrics_path", "params", "scheme",
              "honor_labels", "honor_timestamps", "sample_limit", "body_size_limit",
              "static_configs", "file_sd_configs", "relabel_configs", "metric_relabel_configs"},
             [&](const std::string& k, const YAML::Node& v) -> Status {
               if (k == "job_name") {
                 VIGIL_ASSIGN_OR_RETURN(job.job_name, Str(v, k));
               } else if (k == "scrape_interval") {
                 VIGIL_ASSIGN_OR_RETURN(job.interval, Dur(v, k));
                 if (job.interval.count() <= 0) return Error(v, k + ": must be positive");
               } else if (k == "scrape_timeout") {
                 VIGIL_ASSIGN_OR_RETURN(job.timeout, Dur(v, k));
                 if (job.timeout.count() <= 0) return Error(v, k + ": must be positive");
               } else if (k == "metrics_path") {
                 VIGIL_ASSIGN_OR_RETURN(job.metrics_path, Str(v, k));
                 if (!job.metrics_path.starts_with("/")) return Error(v, k + ": must start with /");
               } else if (k == "scheme") {
                 VIGIL_ASSIGN_OR_RETURN(job.scheme, Str(v, k));
                 if (job.scheme != "http" && job.scheme != "https") {
                   return Error(v, k + ": expected http or https, got \"" + job.scheme + "\"");
                 }
               } else if (k == "params") {
                 if (!v.IsMap()) return Error(v, k + ": expected a mapping of lists");
                 for (const auto& p : v) {
                   VIGIL_ASSIGN_OR_RETURN(job.params[p.first.Scalar()], StrList(p.second, k));
                 }
               } else if (k == "honor_labels") {
                 VIGIL_ASSIGN_OR_RETURN(job.honor_labels, Bool(v, k));
               } else if (k == "honor_timestamps") {
                 VIGIL_ASSIGN_OR_RETURN(job.honor_timestamps, Bool(v, k));
               } else if (k == "sample_limit") {
                 VIGIL_ASSIGN_OR_RETURN(job.sample_limit, Count(v, k));
               } else if (k == "body_size_limit") {
                 VIGIL_ASSIGN_OR_RETURN(job.body_size_limit, Bytes(v, k));
               } else if (k == "static_configs") {
                 VIGIL_ASSIGN_OR_RETURN(job.static_configs, Groups(v, k));
               } else if (k == "file_sd_configs") {
                 if (!v.IsSequence()) return Error(v, k + ": expected a list");
                 for (const auto& f : v) {
                   FileSdConfig sd;
                   VIGIL_RETURN_IF_ERROR(
                       Keys(f, k, {"files", "refresh_interval"},
                            [&](const std::string& fk, const YAML::Node& fv) -> Status {
                              if (fk == "files") {
                                VIGIL_ASSIGN_OR_RETURN(sd.files, StrList(fv, fk));
                              } else {
                                VIGIL_ASSIGN_OR_RETURN(sd.refresh_interval, Dur(fv, fk));
                                if (sd.refresh_interval.count() <= 0) {
                                  return Error(fv, fk + ": must be positive");
                                }
                              }
                              return Status::Ok();
                            }));
                   if (sd.files.empty()) return Error(f, k + ": files: at least one is needed");
                   job.file_sd_configs.push_back(std::move(sd));
                 }
               } else if (k == "relabel_configs") {
                 VIGIL_ASSIGN_OR_RETURN(job.relabel_configs, Rules(v, k));
               } else {
                 VIGIL_ASSIGN_OR_RETURN(job.metric_relabel_configs, Rules(v, k));
               }
               return Status::Ok();
             }));
    if (job.job_name.empty()) return Error(n, "scrape_configs: job_name is required");
    return job;
  }

 private:
  std::string_view file_;
};

Result<YAML::Node> Load(std::string_view text, std::string_view file) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Status(StatusCode::kInvalidArgument,
                  std::string(file) + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

}  // namespace

Result<ScrapeConfigFile> ParseScrapeConfig(std::string_view yaml, std::string_view file,
                                           milliseconds default_interval) {
  VIGIL_ASSIGN_OR_RETURN(YAML::Node root, Load(yaml, file));
  Parser p(file);
  ScrapeConfigFile out;
  bool timeout_set = false;
  try {
    std::set<std::string> names;
    VIGIL_RETURN_IF_ERROR(p.Keys(
        root, "top level", {"global", "scrape_configs"},
        [&](const std::string& k, const YAML::Node& v) -> Status {
          if (k == "global") {
            return p.Keys(v, "global", {"scrape_interval", "scrape_timeout", "external_labels"},
                          [&](const std::string& gk, const YAML::Node& gv) -> Status {
                            if (gk == "scrape_interval") {
                              VIGIL_ASSIGN_OR_RETURN(out.scrape_interval, p.Dur(gv, gk));
                            } else if (gk == "scrape_timeout") {
                              VIGIL_ASSIGN_OR_RETURN(out.scrape_timeout, p.Dur(gv, gk));
                              timeout_set = true;
                            } else {
                              return p.Error(gv,
                                             "external_labels: set them with the agent's "
                                             "--external-label (agent.external_labels)");
                            }
                            return Status::Ok();
                          });
          }
          if (v.IsNull()) return Status::Ok();
          if (!v.IsSequence()) return p.Error(v, "scrape_configs: expected a list");
          for (const auto& j : v) {
            VIGIL_ASSIGN_OR_RETURN(ScrapeJob job, p.Job(j));
            if (!names.insert(job.job_name).second) {
              return p.Error(
                  j, "found multiple scrape configs with job name \"" + job.job_name + "\"");
            }
            out.jobs.push_back(std::move(job));
          }
          return Status::Ok();
        }));
    if (out.scrape_interval.count() == 0) out.scrape_interval = default_interval;
    if (!timeout_set) out.scrape_timeout = std::min(out.scrape_timeout, out.scrape_interval);
    for (auto& job : out.jobs) {
      if (job.interval.count() == 0) job.interval = out.scrape_interval;
      if (job.timeout.count() == 0) job.timeout = std::min(out.scrape_timeout, job.interval);
      if (job.timeout > job.interval) {
        return Status(StatusCode::kInvalidArgument,
                      std::string(file) + ": job \"" + job.job_name + "\": scrape timeout " +
                          FormatDuration(job.timeout) + " greater than scrape interval " +
                          FormatDuration(job.interval));
      }
    }
  } catch (const YAML::Exception& e) {
    return Status(StatusCode::kInvalidArgument, std::string(file) + ": " + e.what());
  }
  return out;
}

Result<std::vector<TargetGroup>> ParseTargetGroups(std::string_view text, std::string_view file) {
  VIGIL_ASSIGN_OR_RETURN(YAML::Node root, Load(text, file));
  try {
    VIGIL_ASSIGN_OR_RETURN(auto groups, Parser(file).Groups(root, "target groups"));
    for (auto& g : groups) g.source = std::string(file);
    return groups;
  } catch (const YAML::Exception& e) {
    return Status(StatusCode::kInvalidArgument, std::string(file) + ": " + e.what());
  }
}

}  // namespace vigil::agent
