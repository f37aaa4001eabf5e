// Fuzzes the agent's scrape-config parser, the file_sd target-group parser and relabeling with
// whatever rules parse: input = config YAML, a NUL, target-group text.
#include <chrono>
#include <cstdint>
#include <string_view>

#include "relabel.h"
#include "scrape_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string_view config = in.substr(0, nul);
  const std::string_view groups = nul == std::string_view::npos ? "" : in.substr(nul + 1);
  auto parsed = vigil::agent::ParseScrapeConfig(config, "fuzz.yml", std::chrono::seconds(15));
  auto targets = vigil::agent::ParseTargetGroups(groups, "fuzz.json");
  if (parsed.ok()) {
    for (const auto& job : parsed->jobs) {
      vigil::LabelsBuilder lb(vigil::Labels{{"__address__", "h:1"}, {"job", job.job_name}});
      if (targets.ok() && !targets->empty()) {
        for (const auto& l : targets->front().labels) lb.Set(l.name, l.value);
      }
      (void)vigil::agent::Relabel(job.relabel_configs, lb);
      (void)vigil::agent::Relabel(job.metric_relabel_configs, lb);
    }
  }
  return 0;
}
