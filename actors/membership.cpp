// Cluster views, ballots and the durable membership state file.
#include "actors/membership.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "actors/durable_file.hpp"
#include "actors/errors.hpp"

namespace ftsr {

bool cluster_view::contains(const member_id& m) const {
  return std::find(members.begin(), members.end(), m) != members.end();
}

const member_id* cluster_view::find(const std::string& name) const {
  for (auto& m : members)
    if (m.name == name)
      return &m;
  return nullptr;
}

bool operator==(const cluster_view& x, const cluster_view& y) {
  return x.number == y.number && x.members == y.members
         && x.proven_dead == y.proven_dead;
}

std::string to_string(const cluster_view& x) {
  std::string result = "view " + std::to_string(x.number) + " [";
  for (size_t i = 0; i < x.members.size(); ++i)
    result += (i > 0 ? " " : "") + to_string(x.members[i]);
  return result + "]";
}

bool operator<(const ballot& x, const ballot& y) {
  return std::tie(x.round, x.node) < std::tie(y.round, y.node);
}

bool operator==(const ballot& x, const ballot& y) {
  return x.round == y.round && x.node == y.node;
}

const char* to_string(gms_kind x) {
  switch (x) {
    case gms_kind::heartbeat: return "heartbeat";
    case gms_kind::prepare: return "prepare";
    case gms_kind::promise: return "promise";
    case gms_kind::accept: return "accept";
    case gms_kind::accepted: return "accepted";
    case gms_kind::reject: return "reject";
    case gms_kind::commit: return "commit";
    case gms_kind::behind: return "behind";
    case gms_kind::join: return "join";
    case gms_kind::join_refused: return "join_refused";
  }
  return "invalid";
}

uint64_t membership_state::fenced_of(const std::string& name) const {
  for (auto& m : fenced)
    if (m.name == name)
      return m.incarnation;
  return 0;
}

void membership_state::fence(const member_id& m) {
  for (auto& f : fenced)
    if (f.name == m.name) {
      f.incarnation = std::max(f.incarnation, m.incarnation);
      return;
    }
  fenced.push_back(m);
}

// -- the state file -------------------------------------------------------------

namespace {

constexpr const char* file_name = "membership.json";
constexpr int format_version = 1;

using json = nlohmann::json;

json members_to_json(const std::vector<member_id>& xs) {
  auto result = json::array();
  for (auto& m : xs)
    result.push_back({{"name", m.name}, {"incarnation", m.incarnation}});
  return result;
}

std::vector<member_id> members_from_json(const json& j) {
  if (!j.is_array())
    throw json::type_error::create(302, "a member list must be an array",
                                   &j);
  std::vector<member_id> result;
  for (auto& m : j)
    result.push_back({m.at("name").get<std::string>(),
                      m.at("incarnation").get<uint64_t>()});
  return result;
}

json view_to_json(const cluster_view& v) {
  return {{"number", v.number},
          {"members", members_to_json(v.members)},
          {"proven_dead", members_to_json(v.proven_dead)}};
}

cluster_view view_from_json(const json& j) {
  cluster_view v;
  v.number = j.at("number").get<uint64_t>();
  v.members = members_from_json(j.at("members"));
  v.proven_dead = members_from_json(j.at("proven_dead"));
  return v;
}

json ballot_to_json(const ballot& b) {
  return {{"round", b.round}, {"node", b.node}};
}

ballot ballot_from_json(const json& j) {
  return {j.at("round").get<uint64_t>(), j.at("node").get<std::string>()};
}

caf::error sys_error(const std::string& what, const std::string& path) {
  return make_error(errc::bad_config,
                    what + " " + path + ": " + std::strerror(errno));
}

} // namespace

caf::expected<membership_state> load_membership(const std::string& dir,
                                                bool& found) {
  found = false;
  auto path = dir + "/" + file_name;
  std::ifstream in{path};
  if (!in) {
    if (errno == ENOENT)
      return membership_state{};
    return sys_error("cannot read", path);
  }
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    auto j = json::parse(buf.str());
    if (j.at("version").get<int>() != format_version)
      return make_error(errc::bad_config,
                        path + ": unsupported version "
                          + j.at("version").dump());
    membership_state st;
    st.view = view_from_json(j.at("view"));
    st.promised = ballot_from_json(j.at("promised"));
    st.has_accepted = j.at("has_accepted").get<bool>();
    st.accepted_bal = ballot_from_json(j.at("accepted_ballot"));
    st.accepted = view_from_json(j.at("accepted"));
    st.max_round = j.at("max_round").get<uint64_t>();
    st.owner = j.at("owner").get<uint64_t>();
    st.fenced = members_from_json(j.at("fenced"));
    found = true;
    return st;
  } catch (const json::exception& e) {
    return make_error(errc::bad_config,
                      path + " is corrupted: " + std::string{e.what()});
  }
}

caf::error save_membership(const std::string& dir, const membership_state& st) {
  json j = {{"version", format_version},
            {"view", view_to_json(st.view)},
            {"promised", ballot_to_json(st.promised)},
            {"has_accepted", st.has_accepted},
            {"accepted_ballot", ballot_to_json(st.accepted_bal)},
            {"accepted", view_to_json(st.accepted)},
            {"max_round", st.max_round},
            {"owner", st.owner},
            {"fenced", members_to_json(st.fenced)}};
  auto text = j.dump(1);
  return write_file_durably(dir, file_name, text.data(), text.size(),
                            errc::bad_config);
}

} // namespace ftsr
