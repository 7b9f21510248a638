#include "llm/endpoint.h"

#include <cstdlib>
#include <cstring>

namespace foldback::llm {

// ------------------------------------------------------------------ ApiKey

ApiKey::~ApiKey() { Wipe(); }

ApiKey& ApiKey::operator=(const ApiKey& other) {
  if (this != &other) {
    Wipe();
    value_ = other.value_;
    source_ = other.source_;
  }
  return *this;
}

ApiKey::ApiKey(ApiKey&& other) noexcept : value_(other.value_), source_(other.source_) {
  other.Wipe();
}

ApiKey& ApiKey::operator=(ApiKey&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = other.value_;
    source_ = other.source_;
    other.Wipe();
  }
  return *this;
}

void ApiKey::Wipe() {
  if (!value_.empty()) explicit_bzero(value_.data(), value_.size());
  value_.clear();
}

ApiKey ApiKey::FromValue(std::string value, std::string source) {
  ApiKey key;
  key.value_ = value;
  if (!value.empty()) explicit_bzero(value.data(), value.size());
  key.source_ = std::move(source);
  return key;
}

Result<ApiKey> ApiKey::FromEnv(const std::string& var) {
  if (var.empty()) return Status::InvalidArgument("no environment variable named for the API key");
  const char* value = std::getenv(var.c_str());
  if (value == nullptr || *value == '\0') {
    return Status::NotFound("environment variable $" + var + " (the API key) is not set or empty");
  }
  std::string v(value);
  // A key pasted with its newline still works.
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) v.pop_back();
  return FromValue(std::move(v), "$" + var);
}

std::string ApiKey::Redact(std::string_view text) const {
  std::string out(text);
  if (value_.size() < 4) return out;
  static constexpr std::string_view kMark = "[REDACTED]";
  auto replace_all = [&out](std::string_view needle) {
    size_t pos = 0;
    while ((pos = out.find(needle, pos)) != std::string::npos) {
      out.replace(pos, needle.size(), kMark);
      pos += kMark.size();
    }
  };
  replace_all(value_);
  constexpr size_t kPiece = 12;
  if (value_.size() > kPiece) {
    for (size_t i = 0; i + kPiece <= value_.size(); ++i) {
      replace_all(std::string_view(value_).substr(i, kPiece));
    }
  }
  return out;
}

std::string AuthHeader(const EndpointConfig& config) {
  if (config.key.empty()) return "";
  return std::string(wire::AuthHeaderName(config.provider)) + ": " +
         wire::AuthValuePrefix(config.provider) + config.key.value();
}

}  // namespace foldback::llm
