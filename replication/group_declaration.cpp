// Group declarations and their record in the actor_system_config.
#include "replication/group_declaration.hpp"

#include "caf/settings.hpp"

namespace ftsr {

namespace {

/// Where the declaration of `type` lives in the config's settings.
std::string settings_key(const std::string& type) {
  return "ftsr.group-declarations." + type;
}

std::string joined(const std::vector<std::string>& names) {
  std::string result;
  for (auto& name : names)
    result += (result.empty() ? "" : ", ") + name;
  return result;
}

} // namespace

const char* to_string(failure_model x) {
  switch (x) {
    case failure_model::correct:
      return "correct";
    case failure_model::crash:
      return "crash";
    case failure_model::byzantine:
      return "byzantine";
  }
  return "?";
}

std::string group_declaration::to_string() const {
  auto result = "replicas(" + std::to_string(replicas_) + ") tolerate("
                + std::to_string(tolerate_) + ") model("
                + ftsr::to_string(model_) + ")";
  if (!hosts_.empty())
    result += " hosts(" + joined(hosts_) + ")";
  if (disjoint_)
    result += " disjoint";
  if (!backups_.empty())
    result += " backups(" + joined(backups_) + ")";
  return result;
}

void declare_group(caf::actor_system_config& cfg, const std::string& type,
                   const group_declaration& decl) {
  auto key = settings_key(type);
  caf::put(cfg.content, key + ".replicas", decl.replicas());
  caf::put(cfg.content, key + ".tolerate", decl.tolerate());
  caf::put(cfg.content, key + ".model", static_cast<int64_t>(decl.model()));
  caf::put(cfg.content, key + ".hosts", decl.hosts());
  caf::put(cfg.content, key + ".disjoint", decl.disjoint());
  caf::put(cfg.content, key + ".backups", decl.backups());
}

std::optional<group_declaration>
declared_group(const caf::actor_system_config& cfg, const std::string& type) {
  auto& xs = caf::content(cfg);
  auto key = settings_key(type);
  auto replicas = caf::get_if<int64_t>(&xs, key + ".replicas");
  auto tolerate = caf::get_if<int64_t>(&xs, key + ".tolerate");
  auto model = caf::get_if<int64_t>(&xs, key + ".model");
  auto hosts = caf::get_if<std::vector<std::string>>(&xs, key + ".hosts");
  auto disjoint = caf::get_if<bool>(&xs, key + ".disjoint");
  auto backups = caf::get_if<std::vector<std::string>>(&xs, key + ".backups");
  if (!replicas || !tolerate || !model || !hosts || !disjoint || !backups)
    return std::nullopt;
  return group_declaration{}
    .replicas(static_cast<size_t>(*replicas))
    .tolerate(static_cast<size_t>(*tolerate))
    .model(static_cast<failure_model>(*model))
    .hosts(std::move(*hosts))
    .disjoint(*disjoint)
    .backups(std::move(*backups));
}

} // namespace ftsr
