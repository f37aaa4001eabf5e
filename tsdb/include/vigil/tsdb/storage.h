#pragma once

// The storage interfaces every part of vigil meets at (Prometheus' storage package in C++):
// writers get an Appender from an Appendable, readers a Querier from a Queryable. remote_write
// ingest, PromQL, alertd and `vigil up` use only these, never a store's own types.

#include <bit>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/labels.h"
#include "vigil/common/matcher.h"
#include "vigil/common/stale.h"
#include "vigil/common/status.h"

namespace vigil::tsdb {

// A handle to a series, returned by Append and valid for later appends to the same store (also
// across appenders; not across restarts). 0 means "unknown: look the labels up".
using SeriesRef = uint64_t;

using vigil::IsStaleNaN;
using vigil::kStaleNaNBits;
using vigil::StaleNaN;

// Error messages of rejected samples, as Prometheus words them.
inline constexpr std::string_view kErrOutOfOrder = "out of order sample";
inline constexpr std::string_view kErrDuplicate = "duplicate sample for timestamp";
inline constexpr std::string_view kErrTooOld = "too old sample";

// Collects samples and makes them durable together. Not thread-safe: one appender per writer
// thread; many appenders may be used at once.
class Appender {
 public:
  virtual ~Appender() = default;
  // Adds a sample for the series `labels` (or `ref`, if it is a ref from this store; then the
  // labels are not looked at). Returns the series' ref. Fails with InvalidArgument for invalid
  // labels and for samples the store rejects (out of order beyond the window, a different value
  // at an existing timestamp); the appender stays usable. An exact duplicate of a stored sample
  // is accepted and dropped.
  virtual Result<SeriesRef> Append(SeriesRef ref, const Labels& labels, int64_t t_ms,
                                   double value) = 0;
  // The ref of the series with exactly these labels (sorted by name; `hash` is HashLabels of
  // them), or 0 if the store does not know it. Lets a writer skip building a Labels for the
  // series a store already has. Stores without a cheap lookup return 0.
  virtual SeriesRef GetRef(std::span<const LabelView> labels, uint64_t hash) {
    (void)labels;
    (void)hash;
    return 0;
  }
  // Makes every sample appended since the last Commit/Rollback durable (per the store's sync
  // policy) and visible to queries. After an error nothing of the batch is visible.
  virtual Status Commit() = 0;
  // Drops every sample appended since the last Commit/Rollback.
  virtual void Rollback() = 0;
};

class Appendable {
 public:
  virtual ~Appendable() = default;
  virtual std::unique_ptr<Appender> NewAppender() = 0;
};

struct Sample {
  int64_t t = 0;
  double v = 0;
};

// The series matched by a Select, in label order unless asked otherwise. Each series' samples are
// in time order without duplicate timestamps, limited to the Select's [mint, maxt].
class SeriesSet {
 public:
  virtual ~SeriesSet() = default;
  virtual bool Next() = 0;
  virtual const Labels& labels() const = 0;
  virtual const std::vector<Sample>& samples() const = 0;
  // Why Next() returned false early (corrupt data, storage errors); OK at a normal end.
  virtual Status Err() const = 0;
};

// What the caller of a Select will use, so a store can do less (Prometheus' SelectHints).
struct SelectHints {
  // Series in label order; false lets them come in any order (Prometheus' sortSeries).
  bool sorted = true;
  // Only each series' newest sample in [mint, maxt] is used (an instant vector selector at one
  // time): the store may return just that one.
  bool newest_only = false;
};

// A part of a PromQL query for the stores that hold the data to evaluate (the shards of a fan-out),
// so they send their results instead of their raw samples.
struct PushDown {
  // PromQL expressions, each evaluated as a range query over [start, end] (ms) at `step` (one
  // step: an instant query at start).
  std::vector<std::string> queries;
  int64_t start = 0, end = 0, step = 1;
  // The selectors the queries read and the time they read them in: the partial results combine
  // only where no series has samples in two stores there.
  std::vector<std::vector<Matcher>> selectors;
  int64_t mint = 0, maxt = 0;
  // Whether the queries see the series' metric names; when they do not (functions drop them),
  // two series that differ only by name count as one.
  bool names_kept = false;
};
struct SeriesSamples {
  Labels labels;
  std::vector<Sample> samples;
};

class Querier {
 public:
  virtual ~Querier() = default;
  // Series with at least one sample in [mint, maxt] (inclusive, milliseconds) matching every
  // matcher. At least one matcher should not match the empty string, or every series is read.
  virtual std::unique_ptr<SeriesSet> Select(int64_t mint, int64_t maxt,
                                            const std::vector<Matcher>& matchers,
                                            SelectHints hints = {}) = 0;
  // Label names of the series matching `matchers` (all series when empty) that may have samples
  // in [mint, maxt], sorted. Like Prometheus, a store may answer coarsely on time (a series is
  // left out when it surely has no sample in the range), never by leaving out one that has.
  virtual Result<std::vector<std::string>> LabelNames(int64_t mint, int64_t maxt,
                                                      const std::vector<Matcher>& matchers) = 0;
  // Values of label `name` among the series matching `matchers` in [mint, maxt], sorted; the
  // same time rule as LabelNames.
  virtual Result<std::vector<std::string>> LabelValues(std::string_view name, int64_t mint,
                                                       int64_t maxt,
                                                       const std::vector<Matcher>& matchers) = 0;
  // What went partly wrong while answering (a shard that did not answer), for the API's
  // "warnings"; empty for a store that answers whole or fails.
  virtual std::vector<std::string> Warnings() const { return {}; }

  // Whether Evaluate may answer: a store whose data is elsewhere (a fan-out over shards).
  virtual bool CanPushDown() const { return false; }
  // Each of `p.queries` evaluated where the data is: per query, the series of every store that
  // answered, one after the other (a series the stores share comes once per store, and the
  // caller combines them). nullopt when it cannot be done exactly: a series of the selectors
  // has samples in more than one store in [mint, maxt], as after a rebalance; the caller then
  // evaluates on the raw samples.
  virtual Result<std::optional<std::vector<std::vector<SeriesSamples>>>> Evaluate(
      const PushDown& p) {
    (void)p;
    return std::optional<std::vector<std::vector<SeriesSamples>>>();
  }
};

class Queryable {
 public:
  virtual ~Queryable() = default;
  virtual std::unique_ptr<Querier> NewQuerier() = 0;
};

}  // namespace vigil::tsdb
