#include "vigil/alertd/alertd.h"

namespace vigil::alertd {

Status Run(const Config&) {
  return Unimplemented(
      "vigil alertd (the rule evaluation and notification) is not built yet: see issue #7");
}

}  // namespace vigil::alertd
