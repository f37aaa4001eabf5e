#include "vigil/logship/logship.h"

namespace vigil::logship {

Status Run(const Config&) {
  return Unimplemented(
      "vigil logship (the log pipeline and Loki API) is not built yet: see issue #6");
}

}  // namespace vigil::logship
