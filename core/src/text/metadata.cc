#include "text/metadata.h"

namespace foldback::text {

void ExtractMetadata(std::string_view text, DocKind kind, Metadata* metadata) {
  (void)text;
  (void)kind;
  (void)metadata;
}

}  // namespace foldback::text
