# Writes OUTPUT, a C++ file defining one string per asset (see assets.hpp):
#   cmake -DOUTPUT=assets.cpp -DASSET_DIR=... -P embed_assets.cmake
set(out "// Generated from apps/dashboard/assets by embed_assets.cmake.\n")
string(APPEND out "#include \"apps/dashboard/assets.hpp\"\n\nnamespace ftsr::dashboard {\n\n")
foreach(pair "index_html;index.html" "app_js;app.js" "style_css;style.css")
  list(GET pair 0 var)
  list(GET pair 1 file)
  file(READ "${ASSET_DIR}/${file}" text)
  string(APPEND out "const char* const asset_${var} = R\"ftsr_asset(${text})ftsr_asset\";\n\n")
endforeach()
string(APPEND out "} // namespace ftsr::dashboard\n")
file(WRITE "${OUTPUT}" "${out}")
