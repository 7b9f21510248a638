#include "host/hash.h"

#include <glib.h>

#include <algorithm>

namespace foldback::host {

std::string Sha256Hex(std::string_view data) {
  GChecksum* c = g_checksum_new(G_CHECKSUM_SHA256);
  // g_checksum_update takes a gssize: feed large inputs in pieces.
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t off = 0; off < data.size(); off += kPiece) {
    size_t n = std::min(kPiece, data.size() - off);
    g_checksum_update(c, reinterpret_cast<const guchar*>(data.data() + off), static_cast<gssize>(n));
  }
  std::string hex = g_checksum_get_string(c);
  g_checksum_free(c);
  return hex;
}

}  // namespace foldback::host
