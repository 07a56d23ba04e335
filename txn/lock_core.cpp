// Strict two-phase locking with FIFO queues, upgrades, deadlock detection
// and timeouts; see lock_core.hpp.
#include "txn/lock_core.hpp"

#include <algorithm>
#include <functional>

namespace ftsr {

namespace {

bool conflicts(lock_mode x, lock_mode y) {
  return x == lock_mode::exclusive || y == lock_mode::exclusive;
}

} // namespace

lock_core::lock_core(lock_config cfg) : cfg_(std::move(cfg)) {
  // nop
}

bool lock_core::known_dm(uint64_t dm) const {
  return std::find(cfg_.dms.begin(), cfg_.dms.end(), dm) != cfg_.dms.end();
}

txn_step lock_core::start() {
  txn_step st;
  last_hello_ = now_;
  for (auto dm : cfg_.dms)
    st.out.push_back({{txn_party::dm, dm}, lm_hello{cfg_.incarnation}});
  serving_ = cfg_.dms.empty();
  return st;
}

void lock_core::answer(const lm_request& m, txn_reason why, txn_step& st) {
  st.out.push_back({{txn_party::dm, m.dm}, lm_reply{m.tid, m.req, m.key, why}});
}

txn_step lock_core::on_request(const lm_request& m) {
  txn_step st;
  if (!known_dm(m.dm)) {
    // Nobody to trust: the answer goes to the id the request names.
    if (m.op == lm_op::lock)
      answer(m, txn_reason::bad_request, st);
    return st;
  }
  auto& epoch = epochs_[m.dm];
  if (m.epoch < epoch)
    return st; // from a failed incarnation of the DM
  epoch = m.epoch;
  if (m.op == lm_op::release) {
    release(m.dm, m.tid, st);
    return st;
  }
  if (m.key.empty() || m.tid == 0) {
    answer(m, txn_reason::bad_request, st);
    return st;
  }
  if (!serving_) {
    backlog_.push_back(m);
    return st;
  }
  lock(m, st);
  return st;
}

void lock_core::lock(const lm_request& m, txn_step& st) {
  lock_name name{m.dm, m.key};
  auto& e = locks_[name];
  for (auto& w : e.queue)
    if (w.req.tid == m.tid) {
      answer(m, txn_reason::busy, st); // one wait per transaction and lock
      return;
    }
  auto h = e.holders.find(m.tid);
  if (h != e.holders.end()) {
    if (h->second == lock_mode::exclusive || m.mode == lock_mode::shared) {
      answer(m, txn_reason::none, st);
      return;
    }
    // Upgrade: behind other upgrades, ahead of every other waiter.
    auto pos = std::find_if(e.queue.begin(), e.queue.end(), [&](auto& w) {
      return e.holders.count(w.req.tid) == 0;
    });
    e.queue.insert(pos, waiter{m, now_});
  } else {
    e.queue.push_back(waiter{m, now_});
  }
  grant(name, st);
  break_deadlocks(st);
}

void lock_core::grant(const lock_name& name, txn_step& st) {
  auto i = locks_.find(name);
  if (i == locks_.end())
    return;
  auto& e = i->second;
  while (!e.queue.empty()) {
    auto& w = e.queue.front();
    auto h = e.holders.find(w.req.tid);
    bool ok;
    if (h != e.holders.end()) // upgrade
      ok = e.holders.size() == 1;
    else
      ok = std::none_of(e.holders.begin(), e.holders.end(), [&](auto& x) {
        return conflicts(x.second, w.req.mode);
      });
    if (!ok)
      break;
    e.holders[w.req.tid] = w.req.mode;
    answer(w.req, txn_reason::none, st);
    e.queue.pop_front();
  }
  if (e.holders.empty() && e.queue.empty())
    locks_.erase(i);
}

void lock_core::release(uint64_t dm, txn_id tid, txn_step& st) {
  std::vector<lock_name> touched;
  for (auto& [name, e] : locks_) {
    if (name.first != dm)
      continue;
    auto n = e.holders.erase(tid);
    auto before = e.queue.size();
    e.queue.erase(std::remove_if(e.queue.begin(), e.queue.end(),
                                 [&](auto& w) { return w.req.tid == tid; }),
                  e.queue.end());
    if (n > 0 || e.queue.size() != before)
      touched.push_back(name);
  }
  backlog_.erase(std::remove_if(backlog_.begin(), backlog_.end(),
                                [&](auto& r) {
                                  return r.dm == dm && r.tid == tid;
                                }),
                 backlog_.end());
  for (auto& name : touched)
    grant(name, st);
}

void lock_core::refuse_waits(txn_id tid, txn_reason why, txn_step& st) {
  std::vector<lock_name> touched;
  for (auto& [name, e] : locks_) {
    auto before = e.queue.size();
    for (auto& w : e.queue)
      if (w.req.tid == tid)
        answer(w.req, why, st);
    e.queue.erase(std::remove_if(e.queue.begin(), e.queue.end(),
                                 [&](auto& w) { return w.req.tid == tid; }),
                  e.queue.end());
    if (e.queue.size() != before)
      touched.push_back(name);
  }
  for (auto& name : touched)
    grant(name, st);
}

std::map<txn_id, std::set<txn_id>> lock_core::wait_for() const {
  std::map<txn_id, std::set<txn_id>> g;
  for (auto& [name, e] : locks_) {
    for (size_t i = 0; i < e.queue.size(); ++i) {
      auto& w = e.queue[i].req;
      for (auto& [tid, h] : e.holders)
        if (tid != w.tid && conflicts(h, w.mode))
          g[w.tid].insert(tid);
      for (size_t j = 0; j < i; ++j) {
        auto& ahead = e.queue[j].req;
        if (ahead.tid != w.tid && conflicts(ahead.mode, w.mode))
          g[w.tid].insert(ahead.tid);
      }
    }
  }
  return g;
}

void lock_core::break_deadlocks(txn_step& st) {
  for (;;) {
    auto g = wait_for();
    // Depth-first search for a back edge; `path` is the current chain.
    std::map<txn_id, int> color; // 0 new, 1 on the path, 2 done
    std::vector<txn_id> path;
    std::vector<txn_id> cycle;
    std::function<bool(txn_id)> visit = [&](txn_id t) {
      color[t] = 1;
      path.push_back(t);
      auto i = g.find(t);
      if (i != g.end())
        for (auto next : i->second) {
          if (color[next] == 1) {
            auto from = std::find(path.begin(), path.end(), next);
            cycle.assign(from, path.end());
            return true;
          }
          if (color[next] == 0 && visit(next))
            return true;
        }
      path.pop_back();
      color[t] = 2;
      return false;
    };
    for (auto& [t, _] : g)
      if (color[t] == 0 && visit(t))
        break;
    if (cycle.empty())
      return;
    auto victim = *std::max_element(cycle.begin(), cycle.end());
    refuse_waits(victim, txn_reason::deadlock, st);
  }
}

txn_step lock_core::on_reclaim(const lm_reclaim& m) {
  txn_step st;
  if (!known_dm(m.dm))
    return st;
  auto& epoch = epochs_[m.dm];
  if (m.epoch < epoch)
    return st;
  epoch = m.epoch;
  // The DM's transactions hold exactly m.locks: every other lock and wait
  // on its items ends (the waits belong to transactions it aborted).
  std::vector<lock_name> touched;
  for (auto& [name, e] : locks_) {
    if (name.first != m.dm)
      continue;
    touched.push_back(name);
    e.holders.clear();
    e.queue.clear();
  }
  for (auto& c : m.locks) {
    if (c.key.empty() || c.tid == 0)
      continue;
    lock_name name{m.dm, c.key};
    locks_[name].holders[c.tid] = c.mode;
    touched.push_back(name);
  }
  backlog_.erase(std::remove_if(backlog_.begin(), backlog_.end(),
                                [&](auto& r) { return r.dm == m.dm; }),
                 backlog_.end());
  for (auto& name : touched)
    grant(name, st);
  if (m.lm_incarnation == cfg_.incarnation)
    reclaimed_.insert(m.dm);
  if (!serving_ && reclaimed_.size() == cfg_.dms.size()) {
    serving_ = true;
    auto backlog = std::move(backlog_);
    backlog_.clear();
    for (auto& r : backlog)
      lock(r, st);
  }
  return st;
}

txn_step lock_core::on_tick(uint64_t now) {
  txn_step st;
  now_ = std::max(now_, now);
  std::vector<lock_name> touched;
  for (auto& [name, e] : locks_) {
    auto before = e.queue.size();
    auto expired = [&](const waiter& w) {
      return now_ - w.since >= cfg_.lock_timeout;
    };
    for (auto& w : e.queue)
      if (expired(w))
        answer(w.req, txn_reason::lock_timeout, st);
    e.queue.erase(std::remove_if(e.queue.begin(), e.queue.end(), expired),
                  e.queue.end());
    if (e.queue.size() != before)
      touched.push_back(name);
  }
  for (auto& name : touched)
    grant(name, st);
  if (!serving_ && now_ - last_hello_ >= cfg_.retry_interval) {
    last_hello_ = now_;
    for (auto dm : cfg_.dms)
      if (reclaimed_.count(dm) == 0)
        st.out.push_back({{txn_party::dm, dm}, lm_hello{cfg_.incarnation}});
  }
  return st;
}

std::optional<lock_mode> lock_core::held(uint64_t dm, const std::string& key,
                                         txn_id tid) const {
  auto i = locks_.find({dm, key});
  if (i == locks_.end())
    return std::nullopt;
  auto h = i->second.holders.find(tid);
  if (h == i->second.holders.end())
    return std::nullopt;
  return h->second;
}

std::vector<txn_id> lock_core::holders(uint64_t dm,
                                       const std::string& key) const {
  std::vector<txn_id> result;
  auto i = locks_.find({dm, key});
  if (i != locks_.end())
    for (auto& [tid, _] : i->second.holders)
      result.push_back(tid);
  return result;
}

std::vector<txn_id> lock_core::waiters(uint64_t dm,
                                       const std::string& key) const {
  std::vector<txn_id> result;
  auto i = locks_.find({dm, key});
  if (i != locks_.end())
    for (auto& w : i->second.queue)
      result.push_back(w.req.tid);
  return result;
}

size_t lock_core::lock_count() const {
  size_t n = 0;
  for (auto& [_, e] : locks_)
    n += e.holders.size();
  return n;
}

size_t lock_core::wait_count() const {
  size_t n = backlog_.size();
  for (auto& [_, e] : locks_)
    n += e.queue.size();
  return n;
}

} // namespace ftsr
