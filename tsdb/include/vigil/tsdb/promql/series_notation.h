#pragma once

// The expanding notation of test series, as Prometheus' PromQL test scripts (`load`) and
// promtool's rule tests (`input_series`) write them: `up{job="a"}` and `0 1+1x3 _ stale _x2`,
// one value per step. `a+bxN` is a, a+b, …, a+N·b (N+1 values), `a-bxN` counts down, `axN` is
// a N+1 times, `_` is no sample and `_xN` N of them, `stale` a staleness marker.

#include <optional>
#include <string_view>
#include <vector>

#include "vigil/common/labels.h"
#include "vigil/common/status.h"

namespace vigil::promql {

// One value per step; nullopt where the step has no sample.
using SeriesValues = std::vector<std::optional<double>>;

// `up{job="a"}`, `{__name__="up"}` or `{}`: the labels (matchers with `=` only).
Result<Labels> ParseSeriesLabels(std::string_view series);

// The values, space separated. Errors name the token: `bad value "1+x3" (token 2)`.
Result<SeriesValues> ParseSeriesValues(std::string_view values);

// A load line: the series, then its values.
struct SeriesDescription {
  Labels labels;
  SeriesValues values;
};
Result<SeriesDescription> ParseSeriesDescription(std::string_view line);

}  // namespace vigil::promql
