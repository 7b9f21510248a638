// Outlook .msg files: OLE2 compound files (MS-CFB) holding MAPI properties
// (MS-OXMSG), read from bytes in the core so that every host (the native
// CLI, the C API, the JS package) reads them the same way.
//
// Two levels:
//   ParseMsg        the message as Outlook stores it: subject, sender,
//                   recipients, times, ids, bodies (plain, HTML, compressed
//                   RTF decompressed per MS-OXRTFCP), attachments with their
//                   bytes, embedded messages read recursively.
//   MsgToDocuments  what foldback indexes: one Document per message
//                   (embedded messages become child documents with
//                   parent_id) and the attachments' bytes, each with the id
//                   and parent_id its documents must get, for the host's
//                   own extractors (.pdf, .docx, ... as for .eml).
//
// Refusals (a Status, never a crash): not a compound file, a broken or
// truncated container, sector chains that loop, sizes past the limits in
// MsgOptions (OutOfRange, naming the limit), signed or encrypted messages
// (message class IPM.Note.SMIME*, IPM.Note.Secure*: NotSupported).
//
// Thread safety: the functions keep no state; call them from any thread.
#ifndef FOLDBACK_MSG_H_
#define FOLDBACK_MSG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/document.h"
#include "foldback/status.h"

namespace foldback {

// Limits against hostile or broken files.
struct MsgOptions {
  // Largest file read at all. Default: 1 GiB.
  uint64_t max_file_bytes = 1ull << 30;
  // Directory entries (storages and streams) in the compound file. Default: 100,000.
  uint32_t max_directory_entries = 100000;
  // Bytes of one stream read (an attachment's data, a body). Default: 256 MiB.
  uint64_t max_stream_bytes = 256ull << 20;
  // Bytes of all streams read from one file. Sector chains may be shared by
  // several streams, so this can exceed the file's size; it bounds the work.
  // Default: 1 GiB.
  uint64_t max_total_bytes = 1ull << 30;
  // Decompressed RTF body (PR_RTF_COMPRESSED's declared raw size). Default: 64 MiB.
  uint64_t max_rtf_bytes = 64ull << 20;
  // Embedded messages inside embedded messages; as the mail reader's MIME
  // nesting limit (Dovecot's). Default: 100.
  uint32_t max_depth = 100;
  // Attachments in one file, all levels. Default: 10,000.
  uint32_t max_attachments = 10000;
  // Recipients of one message. Default: 100,000.
  uint32_t max_recipients = 100000;
  // Addresses kept as metadata per field (from, to, cc, bcc); the rest are
  // counted in a warning. Default: 1,000.
  uint32_t max_addresses_kept = 1000;
};

struct MsgRecipient {
  // "to", "cc" or "bcc" (PR_RECIPIENT_TYPE; anything else is "to").
  std::string type;
  std::string name;
  // SMTP address (PR_SMTP_ADDRESS, or PR_EMAIL_ADDRESS when it is one);
  // empty when the message holds only an Exchange (X.500) address.
  std::string address;
};

struct MsgMessage;

struct MsgAttachment {
  // PR_ATTACH_LONG_FILENAME, else PR_ATTACH_FILENAME, else PR_DISPLAY_NAME.
  std::string filename;
  // PR_ATTACH_MIME_TAG, lower-cased ("" when absent).
  std::string mime_type;
  // PR_ATTACH_CONTENT_ID.
  std::string content_id;
  // PR_ATTACH_DATA_BIN (attach method 1); empty for embedded messages and
  // OLE objects.
  std::string data;
  // Attach method 5: the embedded message (PR_ATTACH_DATA_OBJ); else null.
  std::shared_ptr<const MsgMessage> message;
  // PR_ATTACHMENT_HIDDEN (inline images of an HTML body).
  bool hidden = false;
};

struct MsgMessage {
  std::string message_class;  // PR_MESSAGE_CLASS, e.g. "IPM.Note"
  std::string subject;        // PR_SUBJECT
  // The author (PR_SENT_REPRESENTING_*, else PR_SENDER_*): display name and
  // SMTP address (PR_*_SMTP_ADDRESS, else PR_*_EMAIL_ADDRESS when it is one).
  std::string from_name;
  std::string from_address;
  std::vector<MsgRecipient> recipients;
  // UTC, ISO 8601 ("2019-01-25T10:20:30Z"); "" when absent.
  std::string submit_time;    // PR_CLIENT_SUBMIT_TIME
  std::string delivery_time;  // PR_MESSAGE_DELIVERY_TIME
  std::string message_id;     // PR_INTERNET_MESSAGE_ID
  std::string in_reply_to;    // PR_IN_REPLY_TO_ID
  std::string references;     // PR_INTERNET_REFERENCES
  // Bodies, UTF-8. `html` comes from PR_HTML, or — when there is none — from
  // HTML encapsulated in the RTF body (MS-OXRTFEX); `rtf_text` is the RTF
  // body's text when it does not encapsulate HTML.
  std::string body;
  std::string html;
  std::string rtf_text;
  // The decompressed RTF (MS-OXRTFCP), as stored.
  std::string rtf;
  // The code page ANSI (001E) strings were read in (PR_MESSAGE_CODEPAGE,
  // else PR_INTERNET_CPID, else 1252). Supported: 1250, 1251, 1252, 1253,
  // 1254, 1257, 28591, 20127, 65001; others are read as 1252 with a warning.
  uint32_t codepage = 1252;
  std::vector<MsgAttachment> attachments;
  // Things that did not stop the file: an unsupported code page read as
  // windows-1252, an RTF body that failed its CRC, ... One line each.
  std::vector<std::string> warnings;
  // Undecodable characters replaced by U+FFFD (lone surrogates, invalid
  // UTF-8 in a 65001 string).
  uint64_t replaced = 0;
};

// Reads a .msg file. InvalidArgument when `bytes` is not a compound file;
// Corruption for a broken one (with what is broken); OutOfRange past a
// limit; NotSupported for signed or encrypted messages.
Result<MsgMessage> ParseMsg(std::string_view bytes, const MsgOptions& options = MsgOptions());

// An attachment for the host's extractors.
struct MsgAttachmentFile {
  // Ids for what the host extracts from it: "<message id>/att-<n>-<name>".
  std::string id;
  std::string parent_id;
  std::string filename;   // as shown; never empty ("(unnamed application/pdf)")
  std::string mime_type;  // lower-case; "" when the message gives none
  std::string data;
  // Metadata the attachment's documents inherit from their message (from,
  // date, sent), as for .eml attachments.
  Metadata inherited;
};

struct MsgExtraction {
  // The message (id = the `id` argument) and its embedded messages
  // ("<id>/att-<n>-<subject>", parent_id set), kind kEmail; text valid UTF-8
  // without NUL. Metadata as for .eml: from, to, cc, bcc (lower-case
  // addresses), from_name, date (YYYY-MM-DD of the submit time,
  // else the delivery time), sent (that time in ISO 8601), received (the
  // delivery time), message_id, in_reply_to, references, attachment (the
  // names of all attachments).
  std::vector<Document> documents;
  // Attachments with data (not hidden inline images without a name), in
  // file order, for the host's extractors.
  std::vector<MsgAttachmentFile> attachments;
  std::vector<std::string> warnings;
  uint64_t replaced = 0;
};

// ParseMsg, then the documents foldback indexes. `name` (a file name) is
// the title of a message without a subject. Body text: PR_BODY when it has
// text, else the HTML body as text, else the RTF body's text.
Result<MsgExtraction> MsgToDocuments(std::string_view bytes, const std::string& name, const std::string& id,
                                     const MsgOptions& options = MsgOptions());

// An id part made of a file name or subject, as for .eml attachments: no
// '/', '\\', '#' or control characters (each becomes '_'), at most 80 bytes
// (cut on a UTF-8 boundary).
std::string MsgIdSafeName(std::string_view name);

// Text of an HTML body: tags removed, script/style/head skipped, block
// elements and <br> as line breaks, table cells separated by " | ",
// character references decoded. Small and forgiving (not the HTML5
// algorithm): the same in every host.
std::string MsgHtmlToText(std::string_view html);

// MS-OXRTFCP: decompresses PR_RTF_COMPRESSED. Corruption when the header or
// data are inconsistent; OutOfRange when the declared size exceeds
// `max_bytes`. `crc_ok` (if not null) receives whether the CRC matched.
Result<std::string> DecompressRtf(std::string_view compressed, uint64_t max_bytes, bool* crc_ok = nullptr);

// RTF to text: destinations (font tables, pictures, ...) skipped, \par as a
// line break, \'hh and \uN decoded (\ansicpg 1252 or 65001; other code pages
// read as 1252). When the RTF encapsulates HTML (\fromhtml1, MS-OXRTFEX),
// *html (if not null) receives the HTML and the text is that HTML's text.
std::string RtfToText(std::string_view rtf, std::string* html = nullptr);

}  // namespace foldback

#endif  // FOLDBACK_MSG_H_
