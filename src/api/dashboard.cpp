#include <string>

#include "api/api.hpp"
#include "api/dashboard_html.hpp"

namespace fulcrum::api {

const std::string& dashboard_html() {
  static const std::string page(generated::kDashboardHtml);
  return page;
}

}  // namespace fulcrum::api
