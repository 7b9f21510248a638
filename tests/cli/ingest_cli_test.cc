// `foldback ingest` on a folder of mixed real documents, and `foldback watch`
// keeping an index in sync with a folder across additions, changes,
// deletions, restarts and signals — run as a user runs them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "../unit/ingest_test_util.h"
#include "cli_test_util.h"

namespace {

using foldback::testing::Base64;
using foldback::testing::Contains;
using foldback::testing::MakeDocx;
using foldback::testing::MakePdf;
using foldback::testing::Para;
using foldback::testing::ReadAll;
using foldback::testing::TempDir;
using foldback::testing::WriteAll;

namespace fs = std::filesystem;

const std::string kData = FOLDBACK_TEST_DATA;

using foldback::testing::CliRun;
CliRun Cli(const std::string& args) { return foldback::testing::RunCli(args); }

std::string Q(const std::string& s) { return "'" + s + "'"; }

// Doc ids of a BM25 search.
std::vector<std::string> Search(const std::string& index, const std::string& query,
                                const std::string& extra = "") {
  CliRun r = Cli("search --index " + Q(index) + " --mode bm25 --top-k 50 --json " + extra + " " +
                 Q(query));
  std::vector<std::string> ids;
  if (r.code != 0) {
    ADD_FAILURE() << r.out;
    return ids;
  }
  for (const auto& hit : nlohmann::json::parse(r.out))
    ids.push_back(hit["doc_id"].get<std::string>());
  return ids;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string MailWithAttachment() {
  return "From: Opposing Counsel <counsel@other.example>\r\nTo: jane@firm.example\r\n"
         "Subject: Revised indemnity\r\nDate: Wed, 6 Mar 2024 16:00:00 +0000\r\nMessage-ID: "
         "<rev-1@other.example>\r\n"
         "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
         "--m\r\nContent-Type: text/plain\r\n\r\nSee our markup of the indemnity.\r\n"
         "--m\r\nContent-Type: "
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\n"
         "Content-Disposition: attachment; "
         "filename=\"indemnity.docx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
         Base64(MakeDocx(Para("The Seller shall indemnify the Buyer against zebracorn losses."))) +
         "--m--\r\n";
}

TEST(IngestCli, MixedFolderOfRealDocuments) {
  TempDir dir("ingest-mixed");
  std::string docs = dir / "docs";
  fs::create_directories(docs + "/mail");
  fs::copy_file(kData + "/mail/ruby-mail/plain_emails/raw_email_reply.eml",
                docs + "/mail/reply.eml");
  fs::copy_file(kData + "/mail/mail-parser/mail_test_3", docs + "/mail/raw-no-extension");
  fs::copy_file(kData + "/docx/python-docx/test.docx", docs + "/test.docx");
  fs::copy_file(kData + "/docx/agreements/common-paper-business-associate-agreement/template.docx",
                docs + "/baa.docx");
  fs::copy_file(kData + "/pdf/settlement.pdf", docs + "/settlement.pdf");
  fs::copy_file(kData + "/pdf/settlement-password.pdf", docs + "/locked.pdf");
  WriteAll(docs + "/mail/revised.eml", MailWithAttachment());
  WriteAll(docs + "/mail/archive.mbox",
           "From a@example.com Mon Mar  4 10:00:00 2024\nFrom: a@example.com\nSubject: "
           "one\n\nfirst quokka note\n\n"
           "From b@example.com Mon Mar  4 11:00:00 2024\nFrom: b@example.com\nSubject: "
           "two\n\nsecond quokka note\n");
  WriteAll(docs + "/page.html",
           "<html><head><title>Firm memo</title></head><body><p>Visible wombat text</p>"
           "<p hidden>hidden wombat instructions</p></body></html>");
  WriteAll(docs + "/notes.md", "# Notes\n\nCall the client about the wombat.\n");
  WriteAll(docs + "/broken.docx", "not a zip at all");
  WriteAll(docs + "/image.png", "\x89PNG not text");
  WriteAll(docs + "/old.msg",
           std::string("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8) + std::string(100, '\0'));
  // Same stem, two formats: both kept, under ids with their extensions.
  WriteAll(docs + "/terms.pdf", MakePdf({"Terms in pdf form, platypus"}));
  WriteAll(docs + "/terms.html", "<p>Terms in html form, platypus</p>");

  std::string idx = dir / "idx";
  CliRun r = Cli("ingest --index " + Q(idx) + " --no-dense --matter m1 " + Q(docs));
  EXPECT_EQ(r.code, 3) << r.out;  // some files failed, each reported; the run went on
  EXPECT_TRUE(Contains(r.out, "ingested 11 files")) << r.out;
  EXPECT_TRUE(Contains(r.out, "failed " + docs + "/broken.docx: Corruption: not a .docx")) << r.out;
  EXPECT_TRUE(Contains(r.out, "failed " + docs + "/locked.pdf: Not supported: encrypted PDF"))
      << r.out;
  EXPECT_TRUE(Contains(r.out, "skipped " + docs + "/image.png: no extractor for '.png' files"))
      << r.out;
  EXPECT_TRUE(Contains(r.out, "skipped " + docs + "/old.msg: Outlook .msg files are not supported"))
      << r.out;
  EXPECT_TRUE(Contains(r.out, "2 files skipped: no extractor for their type (.msg 1, .png 1)"))
      << r.out;
  EXPECT_TRUE(Contains(r.out, "2 files failed")) << r.out;
  EXPECT_TRUE(Contains(r.out, "warning " + docs + "/page.html: 1 hidden elements skipped"))
      << r.out;
  // The per-format summary: format, files, documents, failed.
  for (const char* row :
       {"  docx            3          2       1", "  mail            3          5       0",
        "  mbox            1          2       0", "  pdf             3          2       1",
        "  html            2          2       0", "  markdown        1          1       0"}) {
    EXPECT_TRUE(Contains(r.out, row)) << row << "\n" << r.out;
  }

  auto attachment = Search(idx, "zebracorn");
  ASSERT_FALSE(attachment.empty());
  EXPECT_EQ(attachment[0], "mail/revised/att-1-indemnity.docx");
  EXPECT_EQ(Search(idx, "zebracorn", "--filter parent_id=mail/revised"), attachment);
  EXPECT_EQ(Search(idx, "indemnity", "--filter from=counsel@other.example")[0], "mail/revised");
  EXPECT_TRUE(Has(Search(idx, "quokka"), "mail/archive/msg-2"));
  EXPECT_TRUE(Has(Search(idx, "wombat"), "page"));
  EXPECT_TRUE(Has(Search(idx, "wombat"), "notes"));
  EXPECT_TRUE(
      Search(idx, "instructions", "--filter id=page").empty());  // hidden text is not indexed
  EXPECT_TRUE(Has(Search(idx, "settlement release claims"), "settlement"));
  EXPECT_TRUE(Has(Search(idx, "Business Associate Obligations"), "baa"));
  auto platypus = Search(idx, "platypus");
  EXPECT_TRUE(Has(platypus, "terms.pdf") && Has(platypus, "terms.html")) << platypus.size();
  EXPECT_TRUE(Has(Search(idx, "Test reply email"), "mail/reply"));
  EXPECT_TRUE(Search(idx, "zebracorn", "--allowed-matters other").empty());
}

TEST(IngestCli, ProgressOnATerminal) {
  // `script` gives the command a pseudo-terminal, as a user's shell would.
  TempDir dir("ingest-tty");
  for (int i = 0; i < 30; ++i) {
    WriteAll(dir / ("docs/contract-" + std::to_string(i) + ".txt"),
             std::string(200000, 'a') + " indemnification clause number " + std::to_string(i));
  }
  std::string inner = std::string(FOLDBACK_CLI) + " ingest --no-dense --index " + (dir / "idx") +
                      " " + (dir / "docs");
  CliRun r = Cli("--version");  // warm-up: the binary exists
  ASSERT_EQ(r.code, 0);
  std::string cmd = "script -qec " + Q(inner) + " /dev/null 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  EXPECT_EQ(WEXITSTATUS(pclose(p)), 0) << out;
  EXPECT_TRUE(Contains(out, "30/30 files")) << out;
  EXPECT_TRUE(Contains(out, "MB/s")) << out;
  EXPECT_TRUE(Contains(out, "ETA")) << out;
  EXPECT_TRUE(Contains(out, "\033[K")) << out;  // the line is redrawn in place
  // Not a terminal: no progress line.
  CliRun plain = Cli("ingest --no-dense --index " + (dir / "idx2") + " " + (dir / "docs"));
  EXPECT_FALSE(Contains(plain.out, "ETA")) << plain.out;
}

std::string State(const std::string& idx) { return ReadAll(idx + "/watch-state.json"); }

// Moves a file's modification time forward, as an edit a few seconds later would.
void Later(const std::string& path, int seconds) {
  fs::last_write_time(path, fs::last_write_time(path) + std::chrono::seconds(seconds));
}

TEST(WatchCli, OnceAcrossAddChangeDeleteAndRestart) {
  TempDir dir("watch-once");
  std::string src = dir / "matter";
  std::string idx = dir / "idx";
  WriteAll(src + "/nda.txt", "The Recipient shall keep the aardvark information confidential.");
  WriteAll(src + "/lease.docx",
           MakeDocx(Para("The Tenant shall pay rent for the badger premises.")));
  WriteAll(src + "/mail/revised.eml", MailWithAttachment());
  WriteAll(src + "/.hidden.txt", "hidden aardvark");
  WriteAll(src + "/~$lease.docx", "owner file");

  CliRun r = Cli("watch --index " + Q(idx) + " --once --no-dense " + Q(src));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "+ nda.txt (1 documents)")) << r.out;
  EXPECT_TRUE(Contains(r.out, "+ mail/revised.eml (2 documents)")) << r.out;
  EXPECT_TRUE(Contains(r.out, "sync: 3 added, 0 changed, 0 removed, 0 failed, 0 unchanged"))
      << r.out;
  auto state = nlohmann::json::parse(State(idx));
  EXPECT_EQ(state["files"].size(), 3u);
  EXPECT_EQ(state["files"]["mail/revised.eml"]["ids"],
            (nlohmann::json{"mail/revised", "mail/revised/att-1-indemnity.docx"}));
  EXPECT_EQ(state["files"]["nda.txt"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_TRUE(Has(Search(idx, "aardvark"), "nda"));
  EXPECT_TRUE(Has(Search(idx, "zebracorn"), "mail/revised/att-1-indemnity.docx"));

  // Nothing changed: nothing done.
  r = Cli("watch --index " + Q(idx) + " --once --no-dense " + Q(src));
  EXPECT_TRUE(Contains(r.out, "sync: 0 added, 0 changed, 0 removed, 0 failed, 3 unchanged"))
      << r.out;

  // Touched only (same content): the hash confirms nothing changed.
  Later(src + "/nda.txt", 5);
  r = Cli("watch --index " + Q(idx) + " --once --no-dense " + Q(src));
  EXPECT_TRUE(Contains(r.out, "sync: 0 added, 0 changed, 0 removed, 0 failed, 3 unchanged"))
      << r.out;

  // Change, delete, add — while the watcher is not running.
  WriteAll(src + "/nda.txt", "The Recipient shall return the capybara information.");
  Later(src + "/nda.txt", 10);
  fs::remove(src + "/lease.docx");
  WriteAll(src + "/new/memo.html", "<h1>Memo</h1><p>The ocelot deadline is Friday.</p>");
  // The mail loses its attachment: the child document goes too.
  WriteAll(src + "/mail/revised.eml",
           "From: counsel@other.example\r\nSubject: Revised indemnity\r\n\r\nAttachment withdrawn, "
           "pangolin.\r\n");
  Later(src + "/mail/revised.eml", 10);
  r = Cli("watch --index " + Q(idx) + " --once --no-dense " + Q(src));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "- lease.docx")) << r.out;
  EXPECT_TRUE(Contains(r.out, "~ nda.txt (1 documents)")) << r.out;
  EXPECT_TRUE(Contains(r.out, "+ new/memo.html (1 documents)")) << r.out;
  EXPECT_TRUE(Contains(r.out, "sync: 1 added, 2 changed, 1 removed, 0 failed, 0 unchanged"))
      << r.out;
  EXPECT_TRUE(Search(idx, "aardvark").empty());
  EXPECT_TRUE(Has(Search(idx, "capybara"), "nda"));
  EXPECT_TRUE(Search(idx, "badger").empty());
  EXPECT_TRUE(Has(Search(idx, "ocelot"), "new/memo"));
  EXPECT_TRUE(Search(idx, "zebracorn").empty());
  EXPECT_TRUE(Has(Search(idx, "pangolin"), "mail/revised"));
  EXPECT_TRUE(Search(idx, "hidden").empty());
  CliRun info = Cli("info --index " + Q(idx));
  EXPECT_TRUE(Contains(info.out, "documents        3")) << info.out;

  // A file that turns unreadable: reported, its last good version kept.
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "<div>";
  WriteAll(src + "/new/memo.html", deep);
  Later(src + "/new/memo.html", 20);
  r = Cli("watch --index " + Q(idx) + " --once --no-dense " + Q(src));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_TRUE(Contains(r.out, "! new/memo.html: Out of range: HTML nests elements")) << r.out;
  EXPECT_TRUE(Contains(r.out, "(the previous version stays indexed)")) << r.out;
  EXPECT_TRUE(Has(Search(idx, "ocelot"), "new/memo"));
  // ... and not retried while it stays the same.
  r = Cli("watch --index " + Q(idx) + " --once --no-dense " + Q(src));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "0 failed, 3 unchanged")) << r.out;

  // The index belongs to this folder.
  fs::create_directories(dir / "other");
  r = Cli("watch --index " + Q(idx) + " --once " + Q(dir / "other"));
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "is kept in sync with")) << r.out;
  r = Cli("watch --index " + Q(idx) + " --once --matter other " + Q(src));
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "was filled with --matter ''")) << r.out;
}

TEST(WatchCli, CorruptStateIsReportedNotReset) {
  TempDir dir("watch-corrupt");
  fs::create_directories(dir / "src");
  WriteAll(dir / "idx/watch-state.json", "{not json");
  CliRun r = Cli("watch --index " + Q(dir / "idx") + " --once " + Q(dir / "src"));
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "watch-state.json is not a watch state")) << r.out;
}

TEST(WatchCli, FollowsTheFolderAndStopsCleanlyOnSigterm) {
  TempDir dir("watch-live");
  std::string src = dir / "src";
  std::string idx = dir / "idx";
  std::string log = dir / "watch.log";
  WriteAll(src + "/first.txt", "The first lemur document.");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    (void)f;
    ::dup2(::fileno(stdout), 2);
    ::execl(FOLDBACK_CLI, FOLDBACK_CLI, "watch", "--index", idx.c_str(), "--no-dense", "--interval",
            "3600", src.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto wait_for = [&](const std::string& needle) {
    for (int i = 0; i < 300; ++i) {  // up to 30 s
      if (Contains(ReadAll(log), needle)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  EXPECT_TRUE(wait_for("watching ")) << ReadAll(log);
  EXPECT_TRUE(Contains(ReadAll(log), "+ first.txt")) << ReadAll(log);
  // A new file, in a new sub-folder: inotify sees it, not the hourly rescan.
  WriteAll(src + "/sub/second.txt", "The second lemur document.");
  EXPECT_TRUE(wait_for("+ sub/second.txt (1 documents)")) << ReadAll(log);
  WriteAll(src + "/sub/third.txt", "The third lemur document.");
  EXPECT_TRUE(wait_for("+ sub/third.txt (1 documents)")) << ReadAll(log);
  fs::remove(src + "/first.txt");
  EXPECT_TRUE(wait_for("- first.txt")) << ReadAll(log);
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << ReadAll(log);
  EXPECT_EQ(WEXITSTATUS(status), 0) << ReadAll(log);
  EXPECT_TRUE(Contains(ReadAll(log), "stopped; state saved")) << ReadAll(log);
  auto state = nlohmann::json::parse(State(idx));
  EXPECT_EQ(state["files"].size(), 2u) << state.dump();
  EXPECT_TRUE(state["files"].contains("sub/third.txt"));
  auto lemurs = Search(idx, "lemur");
  EXPECT_EQ(lemurs.size(), 2u);
  EXPECT_TRUE(Has(lemurs, "sub/third"));
  // Restarted, it applies only what changed meanwhile.
  WriteAll(src + "/fourth.txt", "The fourth lemur document.");
  CliRun r = Cli("watch --index " + Q(idx) + " --once --no-dense " + Q(src));
  EXPECT_TRUE(Contains(r.out, "sync: 1 added, 0 changed, 0 removed, 0 failed, 2 unchanged"))
      << r.out;
}

}  // namespace
