// Load for fault tests: client threads that each make calls with unique
// tokens until stopped (at most `max_calls` each, and `bound` in all),
// remembering per client which tokens were acknowledged, and the errors of
// the others (not acknowledged: applied or not). What a call is stays the
// test's: `op(self, c, i)` makes call i of client c and returns its token
// with the call's error (none: acknowledged). Accessors are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "caf/error.hpp"
#include "caf/scoped_actor.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "actors/node.hpp"
#include "tests/support/wait.hpp"

namespace ftsr::testing {

/// The outcome of the blocking `ftsr::call(self, cap, xs...)` whose reply
/// is a `Reply`: none if it was answered, else its error.
template <class Reply, class... Ts>
caf::error call_outcome(caf::scoped_actor& self, const capability_ref& cap,
                        Ts&&... xs) {
  caf::error result;
  ftsr::call(self, capability<>{cap}, std::forward<Ts>(xs)...)
    .receive([](Reply&) {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

template <class Token>
class call_load {
public:
  using operation = std::function<std::pair<Token, caf::error>(
    caf::scoped_actor& self, size_t client, uint64_t i)>;

  /// Starts one thread per entry of `clients` (a node may repeat).
  call_load(std::vector<node*> clients, operation op,
            std::chrono::milliseconds bound = std::chrono::seconds(60),
            uint64_t max_calls = 100000)
    : op_(std::move(op)),
      deadline_(std::chrono::steady_clock::now() + bound),
      max_calls_(max_calls) {
    for (size_t c = 0; c < clients.size(); ++c)
      threads_.emplace_back([this, c, n = clients[c]] { run(*n, c); });
  }

  call_load(const call_load&) = delete;
  call_load& operator=(const call_load&) = delete;

  ~call_load() {
    stop();
  }

  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }

  size_t clients() const {
    return threads_.size();
  }

  size_t acked() const {
    return acked_count_;
  }

  /// Waits (bounded by `within`) for `more` further acknowledged calls.
  bool progress(size_t more,
                std::chrono::milliseconds within = std::chrono::seconds(30)) {
    auto target = acked() + more;
    return eventually([&] { return acked() >= target; }, within);
  }

  /// Tokens acknowledged to client `c`.
  std::set<Token> acked_tokens(size_t c) {
    std::lock_guard<std::mutex> guard{mtx_};
    return acked_[c];
  }

  /// Tokens acknowledged to any client.
  std::set<Token> acked_tokens() {
    std::lock_guard<std::mutex> guard{mtx_};
    std::set<Token> result;
    for (auto& [c, tokens] : acked_)
      result.insert(tokens.begin(), tokens.end());
    return result;
  }

  /// The errors of the calls that were not acknowledged, rendered.
  std::vector<std::string> errors() {
    std::lock_guard<std::mutex> guard{mtx_};
    return errors_;
  }

private:
  void run(node& n, size_t c) {
    caf::scoped_actor self{n.system()};
    for (uint64_t i = 0; !stop_ && i < max_calls_
                         && std::chrono::steady_clock::now() < deadline_;
         ++i) {
      auto [token, err] = op_(self, c, i);
      std::lock_guard<std::mutex> guard{mtx_};
      if (err) {
        errors_.push_back(describe(err));
      } else {
        acked_[c].insert(std::move(token));
        ++acked_count_;
      }
    }
  }

  operation op_;
  std::chrono::steady_clock::time_point deadline_;
  uint64_t max_calls_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> acked_count_{0};
  std::mutex mtx_;
  std::map<size_t, std::set<Token>> acked_;
  std::vector<std::string> errors_;
  std::vector<std::thread> threads_;
};

} // namespace ftsr::testing
