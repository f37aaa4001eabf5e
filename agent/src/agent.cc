#include "vigil/agent/agent.h"

namespace vigil::agent {

Status Run(const Config&) {
  return Unimplemented(
      "vigil agent (the node collector, scraper and log tailer) is not built yet: see issue #5");
}

}  // namespace vigil::agent
