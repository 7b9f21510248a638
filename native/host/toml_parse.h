// A TOML document parsed with toml++, its syntax errors turned into one
// InvalidArgument of the shape "SOURCE:LINE:COLUMN: what" — shared by
// foldback.toml (host/config.cc) and serve's users file (serve/users.cc).
#ifndef FOLDBACK_NATIVE_HOST_TOML_PARSE_H_
#define FOLDBACK_NATIVE_HOST_TOML_PARSE_H_

#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "foldback/status.h"

namespace foldback::host {

Result<toml::table> ParseToml(std::string_view text, const std::string& source);

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_TOML_PARSE_H_
