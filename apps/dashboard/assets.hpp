// The dashboard page's files (apps/dashboard/assets/), compiled into the
// binary by embed_assets.cmake so that ftsr-dashboard needs no install step.
#pragma once

namespace ftsr::dashboard {

extern const char* const asset_index_html;
extern const char* const asset_app_js;
extern const char* const asset_style_css;

} // namespace ftsr::dashboard
