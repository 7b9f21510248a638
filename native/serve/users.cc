#include "serve/users.h"

#include <toml++/toml.h>

#include <fmt/format.h>

#include "host/files.h"
#include "host/hash.h"
#include "host/toml_parse.h"

namespace foldback::serve {
namespace {

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A list of matters; "*" alone means every matter (unset).
Status ParseMatters(const toml::node* node, const std::string& where,
                    std::optional<std::set<std::string>>* out) {
  const toml::array* arr = node ? node->as_array() : nullptr;
  if (!arr) return Status::InvalidArgument(where + " must be an array of strings");
  std::set<std::string> set;
  bool star = false;
  for (const toml::node& item : *arr) {
    const auto* s = item.as_string();
    if (!s || s->get().empty())
      return Status::InvalidArgument(where + " must hold non-empty strings");
    if (s->get() == "*") {
      star = true;
    } else {
      set.insert(s->get());
    }
  }
  if (star && !set.empty()) return Status::InvalidArgument(where + ": \"*\" must stand alone");
  if (star) {
    out->reset();
  } else {
    *out = std::move(set);
  }
  return Status::OK();
}

}  // namespace

Result<Users> Users::Parse(std::string_view text, const std::string& source) {
  auto parsed = host::ParseToml(text, source);
  if (!parsed.ok()) return parsed.status();
  toml::table doc = std::move(parsed.value());
  Users users;
  const toml::node* list = doc.get("user");
  if (!list) return users;  // nobody may call the API
  const toml::array* arr = list->as_array();
  if (!arr) return Status::InvalidArgument(source + ": 'user' must be [[user]] tables");
  size_t n = 0;
  for (const toml::node& entry : *arr) {
    ++n;
    std::string where = fmt::format(FMT_STRING("{}: [[user]] #{}"), source, n);
    const toml::table* t = entry.as_table();
    if (!t) return Status::InvalidArgument(where + " is not a table");
    for (const auto& [key, value] : *t) {
      std::string k(key.str());
      if (k != "name" && k != "token_sha256" && k != "matters" && k != "write" &&
          k != "rate_limit") {
        return Status::InvalidArgument(where + ": unknown key '" + k + "'");
      }
    }
    User u;
    auto name = t->get_as<std::string>("name");
    if (!name || name->get().empty())
      return Status::InvalidArgument(where + ": 'name' is required");
    u.name = name->get();
    where += " (" + u.name + ")";
    auto hash = t->get_as<std::string>("token_sha256");
    if (!hash) return Status::InvalidArgument(where + ": 'token_sha256' is required");
    u.token_sha256 = hash->get();
    for (char& c : u.token_sha256)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!IsHex64(u.token_sha256)) {
      return Status::InvalidArgument(where + ": 'token_sha256' must be 64 hex digits");
    }
    FB_RETURN_IF_ERROR(ParseMatters(t->get("matters"), where + ": 'matters'", &u.matters));
    if (const toml::node* w = t->get("write")) {
      FB_RETURN_IF_ERROR(ParseMatters(w, where + ": 'write'", &u.write));
    }
    if (const toml::node* r = t->get("rate_limit")) {
      auto v = r->value<double>();
      if (!v || *v < 0)
        return Status::InvalidArgument(where + ": 'rate_limit' must be a number >= 0");
      u.rate_limit = *v;
    }
    for (const User& other : users.users_) {
      if (other.name == u.name) return Status::InvalidArgument(where + ": the name is used twice");
    }
    if (users.by_hash_.count(u.token_sha256)) {
      return Status::InvalidArgument(where + ": the token is used twice");
    }
    users.by_hash_[u.token_sha256] = users.users_.size();
    users.users_.push_back(std::move(u));
  }
  return users;
}

Result<Users> Users::Load(const std::string& path) {
  auto text = host::ReadFile(path);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

const User* Users::FindByToken(std::string_view token) const {
  if (token.empty()) return nullptr;
  auto it = by_hash_.find(host::Sha256Hex(token));
  return it == by_hash_.end() ? nullptr : &users_[it->second];
}

}  // namespace foldback::serve
