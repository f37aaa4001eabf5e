#include "vigil/tsdb/tsdb.h"

namespace vigil::tsdb {

Status Run(const Config&) {
  return Unimplemented(
      "vigil tsdb (the time-series store and PromQL API) is not built yet: see issue #3");
}

}  // namespace vigil::tsdb
