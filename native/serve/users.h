// The users of `foldback serve`: who may call the API, which matters each
// may see (the ethical wall of every request made with their token) and
// which they may add documents to or delete from.
//
//   [[user]]
//   name = "alice"                       # pseudonymous id, in the audit log
//   token_sha256 = "9f86d0…"             # SHA-256 hex of the bearer token
//   matters = ["acme-merger", "beta"]    # or ["*"]: every matter
//   write = ["acme-merger"]              # optional; ["*"]: every matter
//   rate_limit = 20                      # optional: requests per second
//
// Tokens themselves are never stored: a request's token is hashed and
// looked up. The same [[user]] tables may sit in a larger TOML file (other
// tables are ignored), so a future foldback.toml can hold them.
#ifndef FOLDBACK_NATIVE_SERVE_USERS_H_
#define FOLDBACK_NATIVE_SERVE_USERS_H_

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "foldback/status.h"

namespace foldback::serve {

struct User {
  std::string name;
  std::string token_sha256;  // 64 lower-case hex digits
  // The wall: the matters this user may see. Unset: every matter ("*").
  std::optional<std::set<std::string>> matters;
  // Matters this user may add documents to or delete from. Unset: every
  // matter ("*"). Default: none.
  std::optional<std::set<std::string>> write = std::set<std::string>{};
  // Requests per second (burst: twice that); 0 = the server's default.
  double rate_limit = 0;

  bool MaySee(const std::string& matter) const { return !matters || matters->count(matter) > 0; }
  bool MayWrite(const std::string& matter) const { return !write || write->count(matter) > 0; }
};

class Users {
 public:
  // Parses the [[user]] tables of a TOML document. InvalidArgument naming
  // `source` and the entry for: a TOML syntax error, a missing or empty
  // name, a token_sha256 that is not 64 hex digits, a name or a token used
  // twice, matters missing or not an array of non-empty strings, "*" mixed
  // with matters, an unknown key in an entry (a typo must not widen a
  // wall), a negative rate_limit.
  static Result<Users> Parse(std::string_view toml, const std::string& source);
  // Reads and parses a file.
  static Result<Users> Load(const std::string& path);

  // The user whose token hashes to a known token_sha256; null otherwise.
  const User* FindByToken(std::string_view token) const;
  const std::vector<User>& users() const { return users_; }

 private:
  std::vector<User> users_;
  std::unordered_map<std::string, size_t> by_hash_;
};

}  // namespace foldback::serve

#endif  // FOLDBACK_NATIVE_SERVE_USERS_H_
