// Must not compile: an int where the typed group's interface wants an
// int64_t. Built by the typed_call_mismatch test, which expects ftsr::call's
// short error message.
#include "actors/call.hpp"
#include "tests/support/typed_tally.hpp"

using namespace ftsr::testing::tally;

void wrong(caf::scoped_actor& self, const ftsr::capability<tally_if>& t) {
  ftsr::call(self, t, bump_atom::value, std::string{"a"}, 2)
    .receive([](int64_t) {}, [](caf::error&) {});
}

int main() {
}
