#pragma once

// A log Sink: where logship's spool delivers what it accepted (the log store, Kafka). A sink
// returns Ok only when the batch is durable on its side (written to the store's WAL, or
// acknowledged by the brokers); the spool then moves that sink's cursor. An error leaves the
// cursor where it was: the batch comes again (at-least-once).

#include <string>
#include <vector>

#include "vigil/common/loki_push.h"
#include "vigil/common/status.h"

namespace vigil::logship {

class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual std::string name() const = 0;
  virtual Status Write(const std::vector<loki::Stream>& batch) = 0;
};

}  // namespace vigil::logship
