// RequestTrace: appending with model-name interning.
#include "trace/request_trace.hpp"

#include <algorithm>

#include "kernels/common/error.hpp"

namespace meridian::trace {

int RequestTrace::model_index(const std::string& name) const {
  const auto it = std::find(models.begin(), models.end(), name);
  return it == models.end() ? -1 : static_cast<int>(it - models.begin());
}

void RequestTrace::push(double t, std::int32_t request, std::int32_t response, const std::string& model_name,
                        LogType type) {
  int m = model_index(model_name);
  if (m < 0) {
    MERIDIAN_CHECK(models.size() < 65535, "RequestTrace: more than 65535 distinct model names");
    models.push_back(model_name);
    m = static_cast<int>(models.size()) - 1;
  }
  time_s.push_back(t);
  request_tokens.push_back(request);
  response_tokens.push_back(response);
  model.push_back(static_cast<std::uint16_t>(m));
  log_type.push_back(type);
}

}  // namespace meridian::trace
