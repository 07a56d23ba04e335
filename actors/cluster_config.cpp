// TOML loading and validation of cluster_config.
#include "actors/cluster_config.hpp"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "actors/errors.hpp"

namespace ftsr {

const node_address* cluster_config::find(const std::string& name) const {
  for (auto& n : nodes)
    if (n.name == name)
      return &n;
  return nullptr;
}

std::optional<std::string>
repeated_name(const std::vector<std::string>& names) {
  std::set<std::string> seen;
  for (auto& n : names)
    if (!seen.insert(n).second)
      return n;
  return std::nullopt;
}

namespace {

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64)
    return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      return false;
  return true;
}

// Rejects keys we do not know: a typo must not silently fall back to a
// default.
caf::error check_keys(const toml::table& tbl, std::set<std::string> known,
                      const std::string& where) {
  for (auto& [key, _] : tbl)
    if (known.count(std::string{key.str()}) == 0)
      return make_error(errc::bad_config, where + ": unknown key '"
                                            + std::string{key.str()} + "'");
  return {};
}

caf::expected<int64_t> get_int(const toml::table& tbl, const char* key,
                               const std::string& where,
                               std::optional<int64_t> fallback) {
  auto node = tbl.get(key);
  if (node == nullptr) {
    if (fallback)
      return *fallback;
    return make_error(errc::bad_config,
                      where + ": missing field '" + key + "'");
  }
  if (auto v = node->value<int64_t>(); v && node->is_integer())
    return *v;
  return make_error(errc::bad_config,
                    where + ": field '" + key + "' must be an integer");
}

caf::expected<std::string> get_string(const toml::table& tbl, const char* key,
                                      const std::string& where) {
  auto node = tbl.get(key);
  if (node == nullptr)
    return make_error(errc::bad_config,
                      where + ": missing field '" + key + "'");
  if (!node->is_string())
    return make_error(errc::bad_config,
                      where + ": field '" + key + "' must be a string");
  return std::string{*node->value<std::string>()};
}

// A TLS file named by `key`: resolved against `base_dir` and checked to be a
// readable regular file, so that a typo fails here and not at the first
// connection.
caf::expected<std::string> get_file(const toml::table& tbl, const char* key,
                                    const std::string& where,
                                    const std::string& base_dir) {
  auto name = get_string(tbl, key, where);
  if (!name)
    return name.error();
  if (name->empty())
    return make_error(errc::bad_config,
                      where + ": field '" + key + "' is empty");
  namespace fs = std::filesystem;
  fs::path path{*name};
  if (path.is_relative() && !base_dir.empty())
    path = fs::path{base_dir} / path;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return make_error(errc::bad_config,
                      where + ": " + key + " file '" + path.string() + "' "
                        + (fs::exists(path, ec) ? "is not a regular file"
                                                : "not found"));
  if (!std::ifstream{path})
    return make_error(errc::bad_config, where + ": " + key + " file '"
                                          + path.string()
                                          + "' cannot be read");
  return path.string();
}

// Optional cert/key pair of a table: both or neither.
caf::expected<tls_identity> get_identity(const toml::table& tbl,
                                         const std::string& where,
                                         const std::string& base_dir) {
  tls_identity id;
  if (!tbl.contains("cert") && !tbl.contains("key"))
    return id;
  if (!tbl.contains("cert") || !tbl.contains("key"))
    return make_error(errc::bad_config,
                      where + ": 'cert' and 'key' go together (missing '"
                        + (tbl.contains("cert") ? "key" : "cert") + "')");
  auto cert = get_file(tbl, "cert", where, base_dir);
  if (!cert)
    return cert.error();
  auto key = get_file(tbl, "key", where, base_dir);
  if (!key)
    return key.error();
  id.cert = std::move(*cert);
  id.key = std::move(*key);
  return id;
}

} // namespace

caf::expected<cluster_config> parse_cluster_config(const std::string& text,
                                                   const std::string& origin,
                                                   const std::string& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& err) {
    std::ostringstream os;
    os << origin << ":" << err.source().begin.line << ":"
       << err.source().begin.column << ": " << err.description();
    return make_error(errc::bad_config, os.str());
  }
  if (auto err = check_keys(root, {"cluster", "node"}, origin))
    return err;
  cluster_config cfg;
  auto cluster = root["cluster"].as_table();
  if (cluster == nullptr)
    return make_error(errc::bad_config, origin + ": missing [cluster] table");
  auto where = origin + ": [cluster]";
  if (auto err = check_keys(*cluster,
                            {"name", "heartbeat_interval_ms",
                             "failure_timeout_ms", "lease_ms", "tls"},
                            where))
    return err;
  auto name = get_string(*cluster, "name", where);
  if (!name)
    return name.error();
  if (!valid_name(*name))
    return make_error(errc::bad_config,
                      where + ": invalid cluster name '" + *name
                        + "' (use 1-64 letters, digits, '-' or '_')");
  cfg.name = *name;
  auto hb = get_int(*cluster, "heartbeat_interval_ms", where, 100);
  if (!hb)
    return hb.error();
  auto ft = get_int(*cluster, "failure_timeout_ms", where, 500);
  if (!ft)
    return ft.error();
  if (*hb < 1 || *hb > 60000)
    return make_error(errc::bad_config,
                      where + ": heartbeat_interval_ms must be in 1..60000");
  // At least two missed heartbeats before suspecting: one late packet must
  // not fence a healthy node.
  if (*ft < 2 * *hb || *ft > 600000)
    return make_error(errc::bad_config,
                      where + ": failure_timeout_ms must be at least twice "
                              "heartbeat_interval_ms and at most 600000");
  cfg.heartbeat_interval = std::chrono::milliseconds{*hb};
  cfg.failure_timeout = std::chrono::milliseconds{*ft};
  auto lease = get_int(*cluster, "lease_ms", where, *ft);
  if (!lease)
    return lease.error();
  // Renewals arrive once per heartbeat: a lease of fewer than two would
  // lapse on one late packet.
  if (*lease < 2 * *hb || *lease > 600000)
    return make_error(errc::bad_config,
                      where + ": lease_ms must be at least twice "
                              "heartbeat_interval_ms and at most 600000");
  cfg.lease = std::chrono::milliseconds{*lease};
  if (cluster->contains("tls")) {
    auto tls = (*cluster)["tls"].as_table();
    auto twhere = origin + ": [cluster.tls]";
    if (tls == nullptr)
      return make_error(errc::bad_config, twhere + ": must be a table");
    if (auto err = check_keys(*tls, {"ca", "cert", "key"}, twhere))
      return err;
    auto ca = get_file(*tls, "ca", twhere, base_dir);
    if (!ca)
      return ca.error();
    cfg.tls_ca = std::move(*ca);
    auto id = get_identity(*tls, twhere, base_dir);
    if (!id)
      return id.error();
    cfg.tls_default = std::move(*id);
  }
  auto nodes = root["node"].as_array();
  if (root.contains("node") && nodes == nullptr)
    return make_error(errc::bad_config,
                      origin + ": 'node' must be an array of tables: write "
                               "each node as a [[node]] entry");
  if (nodes == nullptr || nodes->empty())
    return make_error(errc::bad_config,
                      origin + ": no [[node]] entries: a cluster needs at "
                               "least one node");
  std::set<std::string> names;
  std::set<std::pair<std::string, uint16_t>> endpoints;
  size_t index = 0;
  for (auto& elem : *nodes) {
    ++index;
    auto tbl = elem.as_table();
    auto nwhere = origin + ": [[node]] #" + std::to_string(index);
    if (tbl == nullptr)
      return make_error(errc::bad_config, nwhere + ": must be a table");
    if (auto err = check_keys(*tbl, {"name", "host", "port", "cert", "key"},
                              nwhere))
      return err;
    node_address addr;
    auto nname = get_string(*tbl, "name", nwhere);
    if (!nname)
      return nname.error();
    if (!valid_name(*nname))
      return make_error(errc::bad_config,
                        nwhere + ": invalid node name '" + *nname
                          + "' (use 1-64 letters, digits, '-' or '_')");
    addr.name = *nname;
    nwhere += " ('" + addr.name + "')";
    auto host = get_string(*tbl, "host", nwhere);
    if (!host)
      return host.error();
    if (host->empty())
      return make_error(errc::bad_config, nwhere + ": empty host");
    addr.host = *host;
    auto port = get_int(*tbl, "port", nwhere, std::nullopt);
    if (!port)
      return port.error();
    if (*port < 1 || *port > 65535)
      return make_error(errc::bad_config,
                        nwhere + ": port " + std::to_string(*port)
                          + " out of range 1..65535");
    addr.port = static_cast<uint16_t>(*port);
    auto id = get_identity(*tbl, nwhere, base_dir);
    if (!id)
      return id.error();
    if (!cfg.tls() && !id->cert.empty())
      return make_error(errc::bad_config,
                        nwhere + ": 'cert'/'key' given but the cluster has no "
                                 "[cluster.tls] table (with its 'ca')");
    addr.tls = id->cert.empty() ? cfg.tls_default : std::move(*id);
    if (cfg.tls() && addr.tls.cert.empty())
      return make_error(errc::bad_config,
                        nwhere + ": no certificate: give 'cert' and 'key' in "
                                 "this entry or in [cluster.tls]");
    if (!names.insert(addr.name).second)
      return make_error(errc::bad_config,
                        nwhere + ": duplicate node name '" + addr.name + "'");
    if (!endpoints.emplace(addr.host, addr.port).second)
      return make_error(errc::bad_config,
                        nwhere + ": duplicate address " + addr.host + ":"
                          + std::to_string(addr.port));
    cfg.nodes.push_back(std::move(addr));
  }
  return cfg;
}

caf::expected<cluster_config> load_cluster_config(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return make_error(errc::bad_config,
                      "cannot read cluster file '" + path
                        + "': is a directory");
  std::ifstream in{path};
  if (!in)
    return make_error(errc::bad_config,
                      "cannot open cluster file '" + path + "'");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad())
    return make_error(errc::bad_config,
                      "cannot read cluster file '" + path + "'");
  return parse_cluster_config(
    buf.str(), path, std::filesystem::path{path}.parent_path().string());
}

} // namespace ftsr
