// The bank's client side; see bank_client.hpp.
#include "apps/bank/bank_client.hpp"

#include <charconv>
#include <future>
#include <random>
#include <thread>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "replication/group.hpp"
#include "txn/txn_actors.hpp"

namespace ftsr::bank {

namespace {

/// One ftsr::call to `target` from a short-lived actor; `on_reply(done)`
/// makes its reply handler, which sets `done`. Timeout after `bound` (the
/// actor is stopped then).
template <class Result, class OnReply, class... Ts>
caf::expected<Result> ask(node& n, const capability_ref& target,
                          std::chrono::milliseconds bound, OnReply on_reply,
                          Ts... xs) {
  auto done = std::make_shared<std::promise<caf::expected<Result>>>();
  auto fut = done->get_future();
  auto helper = n.system().spawn([=](caf::event_based_actor* self) {
    call(self, capability<>{target}, xs...)
      .then(on_reply(done, self), [self, done](caf::error& err) {
        done->set_value(std::move(err));
        self->quit();
      });
  });
  if (fut.wait_for(bound) != std::future_status::ready) {
    caf::anon_send_exit(helper, caf::exit_reason::user_shutdown);
    return make_error(errc::timeout, "no answer from " + to_string(target)
                                       + " within "
                                       + std::to_string(bound.count()) + " ms");
  }
  return fut.get();
}

/// The TM's (outcome, value) answer as one value.
template <class... Ts>
caf::expected<answer> ask_tm(node& n, const std::optional<capability_ref>& tm,
                             std::chrono::milliseconds bound, Ts... xs) {
  if (!tm)
    return make_error(errc::node_unavailable,
                      "no transaction manager in the cluster (ftsr-bank up)");
  auto on_reply = [](auto done, caf::event_based_actor* self) {
    return [done, self](std::string& outcome, int64_t value) {
      done->set_value(answer{std::move(outcome), value});
      self->quit();
    };
  };
  return ask<answer>(n, *tm, bound, on_reply, xs...);
}

} // namespace

uint64_t dm_of(const std::string& account) {
  uint64_t h = 1469598103934665603ull; // FNV-1a
  for (unsigned char c : account)
    h = (h ^ c) * 1099511628211ull;
  return 1 + h % dm_count;
}

caf::expected<int64_t> parse_amount(const std::string& text, bool allow_zero) {
  int64_t x = 0;
  auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, x);
  auto what = allow_zero ? "a non-negative integer" : "a positive integer";
  if (text.empty() || ec != std::errc{} || p != end || x < 0
      || (x == 0 && !allow_zero))
    return make_error(errc::invalid_argument, "amount '" + text + "' is not "
                                                + what + " (cents)");
  return x;
}

uint64_t new_token() {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  uint64_t t = 0;
  while (t == 0)
    t = gen();
  return t;
}

caf::expected<std::unique_ptr<client>>
client::connect(const std::string& cluster_file,
                std::chrono::milliseconds bound, bool need_bank) {
  auto cfg = load_cluster_config(cluster_file);
  if (!cfg)
    return cfg.error();
  std::vector<std::string> names;
  for (auto& m : cfg->nodes)
    names.push_back(m.name);
  node_options opts;
  opts.cluster = std::move(*cfg);
  opts.add_types = add_txn_actor_types;
  auto n = node::start(std::move(opts));
  if (!n)
    return n.error();
  std::unique_ptr<client> c{new client(std::move(*n))};
  if (auto up = c->node_->await_up(names, bound); !up)
    return make_error(errc::node_unavailable,
                      "cluster " + cluster_file + " unreachable: "
                        + describe(up.error()));
  // The directory reaches a new client shortly after the members do.
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (need_bank && !c->tm()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(errc::node_unavailable,
                        "no bank on cluster " + cluster_file
                          + " (start it with ftsr-bank up)");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return c;
}

std::optional<capability_ref> client::tm() {
  return find_role(node_->context(), tm_type);
}

std::optional<capability_ref> client::dm(uint64_t id) {
  return find_role(node_->context(), dm_type, id);
}

caf::expected<answer> client::transfer(uint64_t token, const std::string& from,
                                       const std::string& to, int64_t amount,
                                       std::chrono::milliseconds bound) {
  return ask_tm(*node_, tm(), bound, tm_transfer_atom::value, token,
                dm_of(from), from, dm_of(to), to, amount);
}

caf::expected<answer> client::create(uint64_t token, const std::string& account,
                                     int64_t amount,
                                     std::chrono::milliseconds bound) {
  return ask_tm(*node_, tm(), bound, tm_create_atom::value, token,
                dm_of(account), account, amount);
}

caf::expected<answer> client::read(const std::string& account,
                                   std::chrono::milliseconds bound) {
  return ask_tm(*node_, tm(), bound, tm_read_atom::value, dm_of(account),
                account);
}

caf::expected<answer> client::status(uint64_t token,
                                     std::chrono::milliseconds bound) {
  return ask_tm(*node_, tm(), bound, tm_status_atom::value, token);
}

caf::expected<balances> client::audit(std::chrono::milliseconds bound) {
  balances result;
  for (uint64_t id = 1; id <= dm_count; ++id) {
    auto ref = dm(id);
    if (!ref)
      return make_error(errc::node_unavailable,
                        "data manager " + std::to_string(id) + " unknown");
    auto on_reply = [](auto done, caf::event_based_actor* self) {
      return [done, self](std::vector<std::string>& kvs) {
        done->set_value(std::move(kvs));
        self->quit();
      };
    };
    auto kvs = ask<std::vector<std::string>>(*node_, *ref, bound, on_reply,
                                             dm_values_atom::value);
    if (!kvs)
      return kvs.error();
    for (size_t i = 0; i + 1 < kvs->size(); i += 2)
      result[(*kvs)[i]] = std::stoll((*kvs)[i + 1]);
  }
  return result;
}

caf::error client::await_serving(std::chrono::milliseconds bound,
                                 size_t replicas) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  };
  std::vector<std::string> names;
  for (auto& m : node_->context().cluster.nodes)
    names.push_back(m.name);
  std::string missing;
  auto ok = [&]() -> bool {
    if (!node_->await_up(names, std::chrono::milliseconds(200))) {
      missing = "a member is not up";
      return false;
    }
    // A read at each DM goes through the TM, that DM and the LM.
    for (uint64_t id = 1; id <= dm_count; ++id) {
      std::string probe = "probe-dm" + std::to_string(id);
      while (dm_of(probe) != id)
        probe += "x";
      auto r = read(probe, std::chrono::seconds(2));
      if (!r || (r->outcome != "ok" && r->outcome != "unknown_account")) {
        missing = "data manager " + std::to_string(id) + " does not answer ("
                  + (r ? r->outcome : describe(r.error())) + ")";
        return false;
      }
    }
    auto& ctx = node_->context();
    for (auto& spec : ctx.dir.restart_specs()) {
      if (!spec.args.match_element<capability<>>(0))
        continue;
      auto store = ctx.dir.lookup(spec.args.get_as<capability<>>(0).id());
      if (!store)
        continue;
      // Replicas that answer and serve: a view still listing a replica
      // that died (not yet replaced) has the right size but one replica
      // less, and the next fault would then take the store's majority.
      size_t serving = 0;
      for (auto& st : group_members_status(*node_, *store,
                                           std::chrono::milliseconds(500)))
        serving += st.serving ? 1 : 0;
      if (serving < replicas) {
        missing = "the stable store of " + spec.type + " has "
                  + std::to_string(serving) + " serving replicas, fewer than "
                  + std::to_string(replicas);
        return false;
      }
    }
    return true;
  };
  while (!ok()) {
    if (left().count() <= 0)
      return make_error(errc::timeout, "cluster not serving within "
                                         + std::to_string(bound.count())
                                         + " ms: " + missing);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return caf::none;
}

} // namespace ftsr::bank
