#!/usr/bin/env python3
"""libfoldback from another language: Python's ctypes, nothing compiled.

Loads the shared library, checks the version, ingests a folder of real mail
and documents, searches it, and drives an ask session answering its LLM
needs with canned text — what a Python, C# or Java host does with its own
HTTP stack.

usage: smoke_ctypes.py LIBFOLDBACK_SO TEST_DATA_DIR
"""
import ctypes as C
import sys

lib_path, data = sys.argv[1], sys.argv[2]
fb = C.CDLL(lib_path)


class Hit(C.Structure):
    _fields_ = [("chunk_id", C.c_char_p), ("doc_id", C.c_char_p), ("text", C.c_char_p),
                ("title", C.c_char_p), ("section", C.c_char_p), ("matter", C.c_char_p),
                ("score", C.c_double)]


class IngestFile(C.Structure):
    _fields_ = [("path", C.c_char_p), ("doc_id", C.c_char_p), ("format", C.c_char_p),
                ("outcome", C.c_int), ("status", C.c_int), ("message", C.c_char_p),
                ("warnings", C.POINTER(C.c_char_p)), ("warning_count", C.c_size_t),
                ("documents", C.c_uint32), ("chunks", C.c_uint32), ("bytes", C.c_uint64),
                ("files_done", C.c_uint64), ("files_total", C.c_uint64),
                ("bytes_done", C.c_uint64), ("bytes_total", C.c_uint64)]


class IngestReport(C.Structure):
    _fields_ = [(name, C.c_uint64) for name in ("files", "indexed", "failed", "unsupported",
                                                "documents", "chunks", "bytes", "warnings",
                                                "replaced")]


class ChatMessage(C.Structure):
    _fields_ = [("role", C.c_char_p), ("content", C.c_char_p)]


class Need(C.Structure):
    _fields_ = [("id", C.c_uint64), ("kind", C.c_int), ("hop", C.c_uint32),
                ("purpose", C.c_char_p), ("messages", C.POINTER(ChatMessage)),
                ("message_count", C.c_size_t), ("temperature", C.c_double),
                ("max_tokens", C.c_uint32), ("json_schema", C.c_char_p),
                ("json_schema_name", C.c_char_p), ("texts", C.POINTER(C.c_char_p)),
                ("text_count", C.c_size_t), ("timeout_ms", C.c_double)]


class NeedResult(C.Structure):
    _fields_ = [("status", C.c_int), ("message", C.c_char_p), ("text", C.c_char_p),
                ("text_len", C.c_size_t), ("vectors", C.POINTER(C.c_float)),
                ("vector_count", C.c_size_t), ("dimension", C.c_size_t),
                ("model", C.c_char_p), ("elapsed_ms", C.c_double), ("attempts", C.c_uint32)]


class Hop(C.Structure):
    _fields_ = [("hop", C.c_uint32), ("query", C.c_char_p), ("source", C.c_char_p),
                ("note", C.c_char_p), ("results", C.c_size_t), ("new_results", C.c_size_t)]


INGEST_CB = C.CFUNCTYPE(None, C.POINTER(IngestFile), C.c_void_p)

fb.fb_version.restype = C.c_char_p
fb.fb_index_init.restype = C.c_void_p
fb.fb_index_init.argtypes = [C.c_void_p, C.POINTER(C.c_int)]
fb.fb_index_free.argtypes = [C.c_void_p]
fb.fb_index_last_error.restype = C.c_char_p
fb.fb_index_last_error.argtypes = [C.c_void_p]
fb.fb_index_ingest_path.argtypes = [C.c_void_p, C.c_char_p, C.c_char_p, INGEST_CB, C.c_void_p,
                                    C.POINTER(IngestReport)]
fb.fb_index_build_dense.argtypes = [C.c_void_p]
fb.fb_index_search.argtypes = [C.c_void_p, C.c_char_p, C.c_void_p, C.POINTER(C.c_void_p)]
fb.fb_results_count.restype = C.c_size_t
fb.fb_results_count.argtypes = [C.c_void_p]
fb.fb_results_get.restype = C.POINTER(Hit)
fb.fb_results_get.argtypes = [C.c_void_p, C.c_size_t]
fb.fb_results_free.argtypes = [C.c_void_p]
fb.fb_ask_start.argtypes = [C.c_void_p, C.c_char_p, C.c_void_p, C.c_double, C.POINTER(C.c_void_p)]
fb.fb_ask_done.argtypes = [C.c_void_p]
fb.fb_ask_take_needs.argtypes = [C.c_void_p, C.POINTER(C.c_void_p)]
fb.fb_needs_count.restype = C.c_size_t
fb.fb_needs_count.argtypes = [C.c_void_p]
fb.fb_needs_get.restype = C.POINTER(Need)
fb.fb_needs_get.argtypes = [C.c_void_p, C.c_size_t]
fb.fb_needs_free.argtypes = [C.c_void_p]
fb.fb_need_default_result.restype = NeedResult
fb.fb_ask_provide.argtypes = [C.c_void_p, C.c_uint64, C.POINTER(NeedResult), C.c_double]
fb.fb_ask_last_error.restype = C.c_char_p
fb.fb_ask_last_error.argtypes = [C.c_void_p]
fb.fb_ask_hop_count.restype = C.c_size_t
fb.fb_ask_hop_count.argtypes = [C.c_void_p]
fb.fb_ask_hop.restype = C.POINTER(Hop)
fb.fb_ask_hop.argtypes = [C.c_void_p, C.c_size_t]
fb.fb_ask_passage_count.restype = C.c_size_t
fb.fb_ask_passage_count.argtypes = [C.c_void_p]
fb.fb_ask_free.argtypes = [C.c_void_p]

version = fb.fb_version().decode()
assert version.count(".") == 2, version

err = C.c_int(-99)
index = fb.fb_index_init(None, C.byref(err))
assert index and err.value == 0, err.value

failed = []


@INGEST_CB
def on_file(f, _user):
    if f.contents.outcome == 1:  # FB_FILE_FAILED
        failed.append((f.contents.path.decode(), f.contents.message.decode()))


files = 0
for folder in ("mail", "docx", "pdf"):
    report = IngestReport()
    rc = fb.fb_index_ingest_path(index, f"{data}/{folder}".encode(), b"matter-1", on_file, None,
                                 C.byref(report))
    assert rc == 0, fb.fb_index_last_error(index)
    assert report.files > 0 and report.indexed > 0, folder
    files += report.files
assert any(p.endswith("settlement-password.pdf") and m for p, m in failed), failed
assert fb.fb_index_build_dense(index) == 0, fb.fb_index_last_error(index)

results = C.c_void_p()
assert fb.fb_index_search(index, b"settlement agreement", None, C.byref(results)) == 0
hits = [fb.fb_results_get(results, i).contents for i in range(fb.fb_results_count(results))]
assert hits and hits[0].matter == b"matter-1", [h.doc_id for h in hits]
top = hits[0].doc_id.decode()
fb.fb_results_free(results)

# An ask, its LLM needs answered by "our own HTTP stack" (canned here).
ask = C.c_void_p()
assert fb.fb_ask_start(index, b"What does the settlement agreement say?", None, 0.0,
                       C.byref(ask)) == 0, fb.fb_index_last_error(index)
now = 0.0
while not fb.fb_ask_done(ask):
    needs = C.c_void_p()
    assert fb.fb_ask_take_needs(ask, C.byref(needs)) == 0
    for i in range(fb.fb_needs_count(needs)):
        need = fb.fb_needs_get(needs, i).contents
        assert need.kind == 0 and need.message_count >= 2, need.kind  # FB_NEED_LLM
        result = fb.fb_need_default_result()
        result.text = f"settlement terms hop {need.hop}".encode()
        now += 5
        assert fb.fb_ask_provide(ask, need.id, C.byref(result), now) == 0, fb.fb_ask_last_error(ask)
    fb.fb_needs_free(needs)
hops = [fb.fb_ask_hop(ask, i).contents.query.decode() for i in range(fb.fb_ask_hop_count(ask))]
assert hops == ["settlement terms hop 1", "settlement terms hop 2"], hops
assert fb.fb_ask_passage_count(ask) > 0
fb.fb_ask_free(ask)
fb.fb_index_free(index)
print(f"ctypes: foldback {version}: {files} files ingested ({len(failed)} failed, "
      f"reported), top hit {top}, ask hops {hops}")
