// foldback delete --index DIR [--allowed-matters M,...] ID...
//
// Removes documents from an index folder, each with its attachments (a
// mail's attached files are documents of their own, linked by parent_id:
// Index::RemoveWithAttachments, as `DELETE /v1/documents/{id}` and
// fb_index_remove). Every id is checked before anything changes: an unknown
// id (or one behind --allowed-matters, which does not exist for that user)
// is an error and the index is left as it was. The snapshot is saved
// atomically. Not for an index a `foldback serve` is serving: send the
// server `DELETE /v1/documents/{id}` instead (its write log would not know).
#include <fmt/format.h>

#include "cli/common.h"
#include "host/index_dir.h"

namespace foldback::cli {
namespace {

struct DeleteArgs {
  std::string index_dir;
  std::string allowed_matters;
  bool restrict_matters = false;
  std::vector<std::string> ids;
};

int Run(const DeleteArgs& a) {
  auto opened = host::OpenIndex(a.index_dir, /*create=*/false);
  if (!opened.ok()) return Fail(opened.status());
  Index& index = **opened;
  std::optional<std::set<std::string>> walls;
  if (a.restrict_matters) walls = SplitCommaSet(a.allowed_matters);
  auto visible = [&](const Document& d) {
    return !walls || d.matter.empty() || walls->count(d.matter) > 0;
  };
  for (const std::string& id : a.ids) {
    const Document* d = index.FindDocument(id);
    // Behind the walls a document does not exist.
    if (!d || !visible(*d)) return Fail(Status::NotFound("no document '" + id + "'"));
    for (const std::string& att : index.AttachmentsOf(id)) {
      const Document* ad = index.FindDocument(att);
      if (ad && !visible(*ad)) {
        return Fail(
            Status::PermissionDenied("document '" + id + "' has an attachment behind your walls"));
      }
    }
  }
  for (const std::string& id : a.ids) {
    if (!index.FindDocument(id)) continue;  // an attachment of an id deleted before it
    std::vector<std::string> removed;
    Status s = index.RemoveWithAttachments(id, &removed);
    if (!s.ok()) return Fail(s);
    if (removed.size() > 1) {
      fmt::print(FMT_STRING("deleted {} and {} attachment(s)\n"), TerminalSafe(id, false),
                 removed.size() - 1);
    } else {
      fmt::print(FMT_STRING("deleted {}\n"), TerminalSafe(id, false));
    }
  }
  Status s = host::SaveIndex(a.index_dir, index);
  if (!s.ok()) return Fail(s);
  return 0;
}

}  // namespace

void RegisterDelete(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<DeleteArgs>();
  CLI::App* cmd =
      app.add_subcommand("delete", "Remove documents (and their attachments) from an index");
  cmd->add_option("--index", args->index_dir, "Index folder")->required();
  auto* am = cmd->add_option("--allowed-matters", args->allowed_matters,
                             "Ethical walls: comma-separated matters the user may see");
  cmd->add_option("ids", args->ids, "Document ids")->required();
  cmd->callback([args, exit_code, am] {
    args->restrict_matters = am->count() > 0;
    *exit_code = Run(*args);
  });
}

}  // namespace foldback::cli
