// The bank's node processes and roles; see bank_cluster.hpp.
#include "apps/bank/bank_cluster.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "apps/bank/bank_client.hpp"
#include "apps/node/child_process.hpp"
#include "replication/group.hpp"
#include "txn/txn_actors.hpp"

namespace fs = std::filesystem;

namespace ftsr::bank {

namespace {

std::string pid_file(const run_dir& d, const std::string& name) {
  return d.path() + "/" + name + ".pid";
}

bool alive(pid_t pid) {
  ::waitpid(pid, nullptr, WNOHANG); // reaps our own children
  return ::kill(pid, 0) == 0;
}

} // namespace

std::vector<std::string> run_dir::nodes() const {
  std::vector<std::string> names;
  if (auto cfg = load_cluster_config(cluster_file()))
    for (auto& m : cfg->nodes)
      names.push_back(m.name);
  return names;
}

std::optional<pid_t> run_dir::running(const std::string& name) const {
  std::ifstream in{pid_file(*this, name)};
  pid_t pid = 0;
  if (in >> pid && pid > 0 && alive(pid))
    return pid;
  return std::nullopt;
}

caf::error run_dir::start_node(const std::string& exe,
                               const std::string& name) const {
  auto proc = child_process::start({exe, "node", "--config", cluster_file(),
                                    "--name", name, "--data-dir",
                                    path_ + "/data-" + name},
                                   log_of(name));
  if (!proc)
    return make_error(errc::storage_error, "cannot start node " + name
                                             + ", see " + log_of(name));
  std::ofstream{pid_file(*this, name)} << proc->release() << "\n";
  return caf::none;
}

bool run_dir::signal(const std::string& name, int sig) const {
  auto pid = running(name);
  return pid && ::kill(*pid, sig) == 0;
}

bool run_dir::await_exit(const std::string& name,
                         std::chrono::milliseconds bound) const {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (running(name)) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

caf::error start_cluster(const run_dir& dir, const std::string& exe,
                         const std::string& config) {
  auto cfg = load_cluster_config(config);
  if (!cfg)
    return cfg.error();
  for (auto& name : dir.nodes())
    if (dir.running(name))
      return make_error(errc::invalid_argument,
                        "a bank cluster runs in " + dir.path()
                          + " already (ftsr-bank down first)");
  std::error_code ec;
  fs::remove_all(dir.path(), ec);
  fs::create_directories(dir.path(), ec);
  if (ec)
    return make_error(errc::storage_error,
                      "cannot create " + dir.path() + ": " + ec.message());
  fs::copy_file(config, dir.cluster_file(), ec);
  if (ec)
    return make_error(errc::storage_error, "cannot copy " + config + ": "
                                             + ec.message());
  for (auto& m : cfg->nodes)
    if (auto err = dir.start_node(exe, m.name))
      return err;
  return caf::none;
}

caf::error create_roles(node& n) {
  auto& nodes = n.context().cluster.nodes;
  if (nodes.size() != 3)
    return make_error(errc::bad_config, "the bank needs a cluster of three "
                                        "nodes (host1, host2, host3)");
  auto h1 = nodes[0].name;
  auto h2 = nodes[1].name;
  auto h3 = nodes[2].name;
  auto store = [&](const std::string& home) -> caf::expected<capability_ref> {
    group_spec spec{"stable_store", {home, h3}, 1};
    spec.backups = {h1, h2, h3};
    return create_group(n, spec);
  };
  auto tm_store = store(h1);
  if (!tm_store)
    return tm_store.error();
  if (auto lm = n.spawn_persistent(h2, {h3}, lm_type,
                                   caf::make_message(dm_count));
      !lm)
    return lm.error();
  for (uint64_t id = 1; id <= dm_count; ++id) {
    auto s = store(h2);
    if (!s)
      return s.error();
    if (auto dm = n.spawn_persistent(
          h2, {h3}, dm_type, caf::make_message(capability<>{*s}, id));
        !dm)
      return dm.error();
  }
  if (auto tm = n.spawn_persistent(
        h1, {h3}, tm_type, caf::make_message(capability<>{*tm_store}, dm_count));
      !tm)
    return tm.error();
  return caf::none;
}

size_t stop_cluster(const run_dir& dir) {
  size_t stopped = 0;
  for (auto& name : dir.nodes()) {
    if (!dir.running(name))
      continue;
    ++stopped;
    dir.signal(name, SIGCONT);
    dir.signal(name, SIGTERM);
  }
  for (auto& name : dir.nodes())
    if (!dir.await_exit(name, std::chrono::seconds(10))) {
      dir.signal(name, SIGKILL);
      dir.await_exit(name, std::chrono::seconds(5));
    }
  return stopped;
}

std::string self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string{"ftsr-bank"} : p.string();
}

} // namespace ftsr::bank
