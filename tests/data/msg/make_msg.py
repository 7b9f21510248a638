#!/usr/bin/env python3
"""Writes the generated .msg test files in this folder (standard library only).

    python3 tests/data/msg/make_msg.py        # rewrites generated/*.msg

A small compound-file writer (MS-CFB v3 and v4: FAT, DIFAT, mini FAT, mini
stream, directory as balanced trees) and an .msg property writer (MS-OXMSG:
__properties_version1.0 and __substg1.0_ streams, recipient and attachment
storages, embedded messages), plus an LZFu compressor (MS-OXRTFCP) for RTF
bodies. Each file exercises some properties; hostile files break one rule
of the container each. The tests (tests/unit/msg_test.cc,
wasm/test/msg.test.mjs, tests/parity/msg_parity.test.mjs) say what they
expect from each. The output is deterministic: re-running it changes nothing.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "generated")

ENDOFCHAIN = 0xFFFFFFFE
FREESECT = 0xFFFFFFFF
FATSECT = 0xFFFFFFFD
DIFSECT = 0xFFFFFFFC
NOSTREAM = 0xFFFFFFFF


# ---------------------------------------------------------------- CFB writer

class Storage(dict):
    """name -> bytes (a stream) or Storage."""


def _cfb_key(name):
    return (len(name), name.upper())


def write_cfb(root, version=3, min_fat_sectors=0):
    ssz = 512 if version == 3 else 4096
    shift = 9 if version == 3 else 12
    # Flatten the tree into directory entries.
    entries = [{"name": "Root Entry", "type": 5, "data": b"", "children": []}]

    def add(storage, parent_index):
        for name in sorted(storage, key=_cfb_key):
            value = storage[name]
            idx = len(entries)
            if isinstance(value, Storage):
                entries.append({"name": name, "type": 1, "data": b"", "children": []})
                entries[parent_index]["children"].append(idx)
                add(value, idx)
            else:
                entries.append({"name": name, "type": 2, "data": bytes(value), "children": []})
                entries[parent_index]["children"].append(idx)

    add(root, 0)
    for e in entries:
        e["left"] = e["right"] = e["child"] = NOSTREAM

    def tree(children):  # balanced binary tree over the sorted children
        if not children:
            return NOSTREAM
        mid = len(children) // 2
        node = children[mid]
        entries[node]["left"] = tree(children[:mid])
        entries[node]["right"] = tree(children[mid + 1:])
        return node

    for e in entries:
        if e["type"] in (1, 5):
            e["child"] = tree(e["children"])

    # Mini stream: streams shorter than 4096 bytes, in 64-byte units.
    mini = bytearray()
    minifat = []
    for e in entries:
        if e["type"] == 2 and 0 < len(e["data"]) < 4096:
            start = len(mini) // 64
            n = (len(e["data"]) + 63) // 64
            e["start"] = start
            for k in range(n):
                minifat.append(start + k + 1 if k < n - 1 else ENDOFCHAIN)
            mini += e["data"] + b"\0" * (n * 64 - len(e["data"]))
        elif e["type"] == 2 and len(e["data"]) == 0:
            e["start"] = ENDOFCHAIN
    entries[0]["data_len"] = len(mini)

    def nsec(nbytes):
        return (nbytes + ssz - 1) // ssz

    dir_bytes = len(entries) * 128
    n_dir = nsec(dir_bytes)
    n_minifat = nsec(len(minifat) * 4)
    n_mini = nsec(len(mini))
    big = [e for e in entries if e["type"] == 2 and len(e["data"]) >= 4096]
    n_big = sum(nsec(len(e["data"])) for e in big)
    content = n_dir + n_minifat + n_mini + n_big
    # FAT and DIFAT sectors, which count themselves.
    n_fat = max(1, min_fat_sectors)
    while True:
        n_difat = 0 if n_fat <= 109 else (n_fat - 109 + (ssz // 4 - 2)) // (ssz // 4 - 1)
        total = content + n_fat + n_difat
        if n_fat * (ssz // 4) >= total:
            break
        n_fat += 1
    fat = [FREESECT] * (n_fat * (ssz // 4))
    sectors = {}
    nxt = 0

    def alloc(n, mark=None):
        nonlocal nxt
        ids = list(range(nxt, nxt + n))
        nxt += n
        for i, s in enumerate(ids):
            fat[s] = mark if mark is not None else (ids[i + 1] if i + 1 < n else ENDOFCHAIN)
        return ids

    fat_ids = alloc(n_fat, FATSECT)
    difat_ids = alloc(n_difat, DIFSECT)
    dir_ids = alloc(n_dir)
    minifat_ids = alloc(n_minifat)
    mini_ids = alloc(n_mini)
    for e in big:
        e["ids"] = alloc(nsec(len(e["data"])))
        e["start"] = e["ids"][0]

    def put(ids, data):
        data = bytes(data) + b"\0" * (len(ids) * ssz - len(data))
        for i, s in enumerate(ids):
            sectors[s] = data[i * ssz:(i + 1) * ssz]

    d = bytearray()
    for i, e in enumerate(entries):
        name = e["name"].encode("utf-16-le")
        rec = bytearray(128)
        rec[0:len(name)] = name
        struct.pack_into("<H", rec, 64, len(name) + 2)
        rec[66] = e["type"]
        rec[67] = 1  # black
        struct.pack_into("<III", rec, 68, e["left"], e["right"], e["child"])
        if e["type"] == 5:
            start = mini_ids[0] if mini_ids else ENDOFCHAIN
            size = len(mini)
        elif e["type"] == 2:
            start = e["start"]
            size = len(e["data"])
        else:
            start, size = 0, 0
        struct.pack_into("<IQ", rec, 116, start, size)
        d += rec
    # Unused entries after the last one.
    while len(d) % ssz:
        rec = bytearray(128)
        struct.pack_into("<III", rec, 68, NOSTREAM, NOSTREAM, NOSTREAM)
        d += rec
    put(dir_ids, d)
    put(minifat_ids, b"".join(struct.pack("<I", v) for v in minifat) +
        b"\xff" * (n_minifat * ssz - 4 * len(minifat)))
    put(mini_ids, mini)
    for e in big:
        put(e["ids"], e["data"])
    # DIFAT sectors: the FAT sectors after the first 109.
    per = ssz // 4 - 1
    rest = fat_ids[109:]
    for k, s in enumerate(difat_ids):
        chunk = rest[k * per:(k + 1) * per]
        chunk = chunk + [FREESECT] * (per - len(chunk))
        link = difat_ids[k + 1] if k + 1 < len(difat_ids) else ENDOFCHAIN
        sectors[s] = b"".join(struct.pack("<I", v) for v in chunk + [link])
    fat_bytes = b"".join(struct.pack("<I", v) for v in fat)
    put(fat_ids, fat_bytes)

    header = bytearray(512)
    header[0:8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, version, 0xFFFE, shift, 6)
    struct.pack_into("<I", header, 40, n_dir if version == 4 else 0)
    struct.pack_into("<II", header, 44, n_fat, dir_ids[0])
    struct.pack_into("<I", header, 56, 4096)
    struct.pack_into("<II", header, 60, minifat_ids[0] if minifat_ids else ENDOFCHAIN, n_minifat)
    struct.pack_into("<II", header, 68, difat_ids[0] if difat_ids else ENDOFCHAIN, n_difat)
    head109 = fat_ids[:109] + [FREESECT] * (109 - min(109, len(fat_ids)))
    header[76:512] = b"".join(struct.pack("<I", v) for v in head109)
    if version == 4:
        header += b"\0" * (4096 - 512)
    return bytes(header) + b"".join(sectors[i] for i in range(nxt))


# ---------------------------------------------------------------- MAPI writer

PT_LONG, PT_BOOL, PT_SYSTIME = 0x0003, 0x000B, 0x0040
PT_STRING8, PT_UNICODE, PT_BINARY = 0x001E, 0x001F, 0x0102


def filetime(y, mo, d, h, mi, s):
    import calendar
    t = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    return (t + 11644473600) * 10000000


def props_storage(props, header, storage=None, codepage="cp1252"):
    """props: list of (id, type, value). Returns a Storage with the property
    stream and the value streams."""
    st = storage if storage is not None else Storage()
    entries = b""
    for pid, ptype, value in props:
        tag = (pid << 16) | ptype
        if ptype in (PT_LONG, PT_BOOL):
            entries += struct.pack("<IIQ", tag, 6, int(value))
        elif ptype == PT_SYSTIME:
            entries += struct.pack("<IIQ", tag, 6, value)
        else:
            if ptype == PT_UNICODE:
                data = value.encode("utf-16-le")
                size = len(data) + 2
            elif ptype == PT_STRING8:
                data = value if isinstance(value, bytes) else value.encode(codepage)
                size = len(data) + 1
            else:
                data = bytes(value)
                size = len(data)
            st["__substg1.0_%04X%04X" % (pid, ptype)] = data
            entries += struct.pack("<IIII", tag, 6, size, 0)
    st["__properties_version1.0"] = header + entries
    return st


def message(props, recipients=(), attachments=(), top=True, codepage="cp1252"):
    n_r, n_a = len(recipients), len(attachments)
    if top:
        header = struct.pack("<8xIIII8x", n_r, n_a, n_r, n_a)
    else:
        header = struct.pack("<8xIIII", n_r, n_a, n_r, n_a)
    st = props_storage(props, header, codepage=codepage)
    if top:
        st["__nameid_version1.0"] = Storage({
            "__substg1.0_00020102": b"", "__substg1.0_00030102": b"", "__substg1.0_00040102": b""})
    for i, r in enumerate(recipients):
        st["__recip_version1.0_#%08X" % i] = props_storage(r, b"\0" * 8, codepage=codepage)
    for i, a in enumerate(attachments):
        a_props, embedded = a
        s = props_storage(a_props, b"\0" * 8, codepage=codepage)
        if embedded is not None:
            s["__substg1.0_3701000D"] = embedded
        st["__attach_version1.0_#%08X" % i] = s
    return st


# --------------------------------------------------------------- compressed RTF

PREFIX = (b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern "
          b"\\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0"
          b"\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx")
assert len(PREFIX) == 207


def _crc(data):
    # MS-OXRTFCP's CRC: the usual table, initial 0, no final inversion.
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (0xEDB88320 ^ (c >> 1)) if c & 1 else c >> 1
        table.append(c)
    crc = 0
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def compress_rtf(raw):
    """LZFu: greedy longest match (2..17 bytes) against the 4 KiB dictionary."""
    dic = bytearray(4096)
    dic[:207] = PREFIX
    wpos = 207
    out = bytearray()
    i = 0
    done = False
    while not done:
        control = 0
        block = bytearray()
        for bit in range(8):
            if i >= len(raw):
                # The end: a reference to the write position.
                control |= 1 << bit
                block += struct.pack(">H", (wpos << 4))
                done = True
                break
            best_len, best_off = 0, 0
            # Search the dictionary (not the bytes about to be written).
            for off in range(4096):
                if (off - wpos) % 4096 == 0:
                    continue
                n = 0
                while n < 17 and i + n < len(raw) and dic[(off + n) % 4096] == raw[i + n] and \
                        (off + n) % 4096 != wpos:
                    n += 1
                if n > best_len:
                    best_len, best_off = n, off
            if best_len >= 2:
                control |= 1 << bit
                block += struct.pack(">H", (best_off << 4) | (best_len - 2))
                for k in range(best_len):
                    dic[wpos] = raw[i + k]
                    wpos = (wpos + 1) % 4096
                i += best_len
            else:
                block.append(raw[i])
                dic[wpos] = raw[i]
                wpos = (wpos + 1) % 4096
                i += 1
        out.append(control)
        out += block
    return struct.pack("<IIII", len(out) + 12, len(raw), 0x75465A4C, _crc(bytes(out))) + bytes(out)


# ---------------------------------------------------------------- the files

def u(pid, s):
    return (pid, PT_UNICODE, s)


def a8(pid, s):
    return (pid, PT_STRING8, s)


def all_properties():
    """Every property the reader knows, Unicode strings."""
    inner_att = [([u(0x3707, "inner-notes.txt"), u(0x370E, "text/plain"), (0x3705, PT_LONG, 1),
                   (0x3701, PT_BINARY, b"Inner attachment: escrow schedule for the Meridian deal.\r\n")], None)]
    inner = message([
        u(0x001A, "IPM.Note"),
        u(0x0037, "Fwd: Meridian escrow terms"),
        u(0x0042, "Carol Counsel"),
        u(0x5D02, "carol@lawfirm.example"),
        (0x0039, PT_SYSTIME, filetime(2024, 2, 29, 23, 59, 58)),
        u(0x1035, "<inner-1@lawfirm.example>"),
        u(0x1000, "The escrow releases on closing.\r\nSee the attached schedule."),
    ], recipients=[[u(0x3001, "Dan Deal"), u(0x39FE, "dan@client.example"), (0x0C15, PT_LONG, 1)]],
        attachments=inner_att, top=False)
    html = ("<html><head><title>x</title><style>p{}</style></head><body><p>HTML body: indemnity "
            "&amp; escrow</p></body></html>").encode("utf-8")
    return message([
        u(0x001A, "IPM.Note"),
        u(0x0037, "Übernahme – Entwurf SPA §4"),
        u(0x0042, "Alice Ärger"),
        u(0x0064, "EX"),
        u(0x0065, "/O=FIRM/OU=EXCHANGE/CN=RECIPIENTS/CN=ALICE"),
        u(0x5D02, "Alice.Aerger@LawFirm.example"),
        u(0x0C1A, "Assistant"),
        u(0x5D01, "assistant@lawfirm.example"),
        (0x0039, PT_SYSTIME, filetime(2023, 11, 5, 14, 30, 15)),
        (0x0E06, PT_SYSTIME, filetime(2023, 11, 5, 14, 31, 2)),
        u(0x1035, "<abc-123@lawfirm.example>"),
        u(0x1042, "<prev-1@client.example>"),
        u(0x1039, "<root-0@client.example> <prev-1@client.example>"),
        (0x3FDE, PT_LONG, 65001),
        u(0x1000, "Dear Bob,\r\n\r\nplease find the draft share purchase agreement (€ 2.5m) attached.\r\n\r\nAlice"),
        (0x1013, PT_BINARY, html),
        (0x1009, PT_BINARY, compress_rtf(b"{\\rtf1\\ansi\\ansicpg1252 RTF body\\par}")),
    ], recipients=[
        [u(0x3001, "Bob Buyer"), u(0x3002, "SMTP"), u(0x3003, "Bob@Client.example"), (0x0C15, PT_LONG, 1)],
        [u(0x3001, "Exchange Person"), u(0x3002, "EX"), u(0x3003, "/O=FIRM/CN=EXCH"),
         u(0x39FE, "exch.person@lawfirm.example"), (0x0C15, PT_LONG, 1)],
        [u(0x3001, "Cathy Copy"), u(0x39FE, "cathy@client.example"), (0x0C15, PT_LONG, 2)],
        [u(0x3001, "Blind Bcc"), u(0x39FE, "blind@lawfirm.example"), (0x0C15, PT_LONG, 3)],
        [u(0x3001, "No Smtp"), u(0x3002, "EX"), u(0x3003, "/O=FIRM/CN=NOSMTP"), (0x0C15, PT_LONG, 2)],
    ], attachments=[
        ([u(0x3707, "notes.txt"), u(0x3704, "NOTES~1.TXT"), u(0x370E, "text/plain"), (0x3705, PT_LONG, 1),
          (0x3701, PT_BINARY, "Closing checklist: signatures, escrow, board consent.\r\n".encode("utf-8"))], None),
        ([u(0x370E, "image/png"), (0x3705, PT_LONG, 1), (0x7FFE, PT_BOOL, 1), u(0x3712, "img1@x"),
          (0x3701, PT_BINARY, b"\x89PNG\r\n\x1a\n" + b"\0" * 40)], None),
        ([u(0x3707, "memo.html"), u(0x370E, "text/html"), (0x3705, PT_LONG, 1),
          (0x3701, PT_BINARY, b"<html><body><h1>Memo</h1><p>Limitation of liability.</p></body></html>")], None),
        ([u(0x3001, "Fwd: Meridian escrow terms"), (0x3705, PT_LONG, 5)], inner),
        ([u(0x3707, "large-exhibit.txt"), u(0x370E, "text/plain"), (0x3705, PT_LONG, 1),
          (0x3701, PT_BINARY, b"".join(b"Exhibit line %04d: governing law and jurisdiction.\r\n" % k for k in range(200)))], None),
    ])


def ansi_1252():
    """PT_STRING8 in windows-1252, no plain body: the HTML body is the text."""
    html = "<p>Pr\xe9sentation du contrat \u2013 co\xfbt 100 \u20ac</p><div style=\"display:none\">hidden " \
           "instructions</div><p>Fin.</p>".encode("cp1252")
    return message([
        a8(0x001A, "IPM.Note"),
        a8(0x0037, "R\xe9sum\xe9 \u2013 clause p\xe9nale \u20ac"),
        a8(0x0042, "Fran\xe7ois Dupont"),
        a8(0x0064, "SMTP"),
        a8(0x0065, "francois@cabinet.example"),
        (0x3FFD, PT_LONG, 1252),
        (0x3FDE, PT_LONG, 1252),
        (0x0E06, PT_SYSTIME, filetime(2021, 3, 1, 8, 0, 0)),
        (0x1013, PT_BINARY, html),
    ], recipients=[[a8(0x3001, "Z\xf6e"), a8(0x3002, "SMTP"), a8(0x3003, "zoe@client.example"),
                    (0x0C15, PT_LONG, 1)]])


def ansi_1251():
    """PT_STRING8 in windows-1251 (PR_MESSAGE_CODEPAGE 1251)."""
    return message([
        a8(0x001A, "IPM.Note"),
        a8(0x0037, "Договор № 7 — неустойка"),
        a8(0x0042, "Пётр"),
        a8(0x5D02, "petr@example.ru"),
        (0x3FFD, PT_LONG, 1251),
        a8(0x1000, "Срок поставки: 30 дней.\r\n"),
    ], codepage="cp1251")


def ansi_932():
    """PT_STRING8 in a code page the reader does not know (932, Shift-JIS)."""
    return message([a8(0x001A, "IPM.Note"), a8(0x0037, "Plain ASCII subject"), (0x3FFD, PT_LONG, 932),
                    a8(0x1000, "Body.")])


def ansi_utf8():
    """PT_STRING8 in UTF-8 (code page 65001), the body too."""
    return message([
        a8(0x001A, "IPM.Note"),
        (0x0037, PT_STRING8, "Договор поставки — 東京".encode("utf-8")),
        (0x0C1A, PT_STRING8, "Ива́н".encode("utf-8")),
        a8(0x0C1E, "SMTP"),
        a8(0x0C1F, "ivan@example.ru"),
        (0x3FFD, PT_LONG, 65001),
        (0x0039, PT_SYSTIME, filetime(2020, 1, 1, 0, 0, 0)),
        (0x1000, PT_STRING8, "Текст договора: неустойка 5 %.\r\n".encode("utf-8")),
    ], codepage="utf-8")


RTF_TEXT = (b"{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss Arial;}}{\\colortbl;\\red0\\green0\\blue0;}"
            b"{\\*\\generator Msftedit 5.41;}\\pard\\f0\\fs20 Force majeure: neither party is liable\\par "
            b"for delay caused by events beyond its control (caf\\'e9, \\u8364?100).\\par "
            b"{\\pict\\pngblip 89504e47}\\tab Second\\line line\\par}")

RTF_HTML = (b"{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0{\\fonttbl{\\f0\\fswiss Arial;}}"
            b"{\\*\\htmltag19 <html>}{\\*\\htmltag34 <head>}{\\*\\htmltag41 <style>p{color:red}</style>}"
            b"{\\*\\htmltag41 </head>}{\\*\\htmltag50 <body>}\\htmlrtf {\\htmlrtf0 "
            b"{\\*\\htmltag64 <p>}\\htmlrtf {\\htmlrtf0 Confidentiality survives termination \\'e9\\htmlrtf\\par}"
            b"\\htmlrtf0{\\*\\htmltag72 </p>}{\\*\\htmltag64 <p>}Term: 3 years&nbsp;net{\\*\\htmltag72 </p>}"
            b"{\\*\\htmltag58 </body>}{\\*\\htmltag27 </html>}}")


def rtf_only():
    return message([
        u(0x001A, "IPM.Note"),
        u(0x0037, "RTF only"),
        (0x1009, PT_BINARY, compress_rtf(RTF_TEXT)),
    ])


def rtf_html():
    return message([
        u(0x001A, "IPM.Note"),
        u(0x0037, "RTF with HTML inside"),
        (0x1009, PT_BINARY, compress_rtf(RTF_HTML)),
    ])


def protected(cls):
    return message([u(0x001A, cls), u(0x0037, "Protected"), u(0x1000, "secret")],
                   attachments=[([u(0x3707, "smime.p7m"), (0x3705, PT_LONG, 1),
                                  (0x3701, PT_BINARY, b"0\x82\x01\x00")], None)])


def nested(depth):
    m = message([u(0x001A, "IPM.Note"), u(0x0037, "level %d" % depth), u(0x1000, "body %d" % depth)],
                top=False)
    for k in range(depth - 1, 0, -1):
        m = message([u(0x001A, "IPM.Note"), u(0x0037, "level %d" % k), u(0x1000, "body %d" % k)],
                    attachments=[([(0x3705, PT_LONG, 5)], m)], top=False)
    return message([u(0x001A, "IPM.Note"), u(0x0037, "level 0"), u(0x1000, "body 0")],
                   attachments=[([(0x3705, PT_LONG, 5)], m)])


def simple():
    return message([u(0x001A, "IPM.Note"), u(0x0037, "Simple"), u(0x1000, "A simple body.")])


def text_attachments():
    """Text attachments in the encodings hosts must decode alike: windows-1252
    (with a byte it leaves undefined), UTF-8 with a byte-order mark, a NUL byte."""
    def att(name, data):
        return ([u(0x3707, name), u(0x370E, "text/plain"), (0x3705, PT_LONG, 1), (0x3701, PT_BINARY, data)], None)
    return message([u(0x001A, "IPM.Note"), u(0x0037, "Text attachments"), u(0x1000, "Three text files.")],
                   attachments=[att("latin.txt", "Café – 5 €, undefined:".encode("cp1252") + b"\x81."),
                                att("bom.txt", b"\xef\xbb\xbfWith a byte-order mark."),
                                att("nul.txt", b"before\x00after")])


def msg_file_attached():
    """A .msg file attached as a file (method 1), not as an embedded message."""
    inner = write_cfb(message([u(0x001A, "IPM.Note"), u(0x0037, "Attached as a file"),
                               u(0x1000, "The attached file's body: arbitration in Geneva.")]))
    return message([u(0x001A, "IPM.Note"), u(0x0037, "Outer"), u(0x1000, "See the attached message.")],
                   attachments=[([u(0x3707, "earlier.msg"), u(0x370E, "application/vnd.ms-outlook"),
                                  (0x3705, PT_LONG, 1), (0x3701, PT_BINARY, inner)], None)])


# Hostile variants: one broken rule each, on top of simple() written as v3.

def _u32(b, at):
    return struct.unpack_from("<I", b, at)[0]


def fat_loop():
    """A chain of 3+ sectors whose second sector points back to its first."""
    data = bytearray(write_cfb(message([u(0x001A, "IPM.Note"), u(0x0037, "Loop"),
                                        u(0x1000, "x" * 5000)])))
    fat_sector = _u32(data, 76)
    fat_off = (fat_sector + 1) * 512
    fat = [_u32(data, fat_off + 4 * i) for i in range(128)]
    # The body stream (>= 4096 bytes) is the only regular-sector chain of 2+ sectors after the
    # directory; find a chain of at least 3 and close it on itself.
    for start in range(128):
        if fat[start] < 128 and fat[fat[start]] < 128 and fat[fat[fat[start]]] < 128:
            # The second sector leads back to the first: s0, s1, s0, ...
            struct.pack_into("<I", data, fat_off + 4 * fat[start], start)
            return bytes(data)
    raise SystemExit("no chain to loop")


def dir_cycle():
    """The root's first child's right sibling points back at the root's child."""
    data = bytearray(write_cfb(simple()))
    dir_sector = _u32(data, 48)
    off = (dir_sector + 1) * 512
    child = _u32(data, off + 76)
    entry = off + 128 * child
    # Point a leaf's sibling at the subtree's root: a cycle.
    while _u32(data, entry + 72) != NOSTREAM:
        entry = off + 128 * _u32(data, entry + 72)
    struct.pack_into("<I", data, entry + 72, child)
    return bytes(data)


def huge_size():
    """A stream declares 2 GiB: past the stream limit, and past its chain."""
    data = bytearray(write_cfb(simple()))
    dir_sector = _u32(data, 48)
    off = (dir_sector + 1) * 512
    for k in range(1, 20):
        e = off + 128 * k
        name = data[e:e + 64].decode("utf-16-le", "replace")
        if name.startswith("__substg1.0_1000001F"):
            struct.pack_into("<Q", data, e + 120, 0x80000000)
            return bytes(data)
    raise SystemExit("no body stream")


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {
        "all_properties.msg": write_cfb(all_properties()),
        "all_properties_v4.msg": write_cfb(all_properties(), version=4),
        "ansi_1252.msg": write_cfb(ansi_1252()),
        "ansi_utf8.msg": write_cfb(ansi_utf8()),
        "ansi_1251.msg": write_cfb(ansi_1251()),
        "ansi_932.msg": write_cfb(ansi_932()),
        "rtf_only.msg": write_cfb(rtf_only()),
        "rtf_html.msg": write_cfb(rtf_html()),
        "smime_encrypted.msg": write_cfb(protected("IPM.Note.SMIME")),
        "smime_signed.msg": write_cfb(protected("IPM.Note.SMIME.MultipartSigned")),
        "nested_3.msg": write_cfb(nested(3)),
        "nested_20.msg": write_cfb(nested(20)),
        "difat.msg": write_cfb(simple(), min_fat_sectors=112),
        "msg_file_attached.msg": write_cfb(msg_file_attached()),
        "text_attachments.msg": write_cfb(text_attachments()),
        "broken_fat_loop.msg": fat_loop(),
        "broken_dir_cycle.msg": dir_cycle(),
        "broken_huge_size.msg": huge_size(),
        "broken_truncated.msg": write_cfb(all_properties())[:3000],
        "broken_not_message.msg": write_cfb(Storage({"WordDocument": b"\0" * 100})),
        "broken_garbage.msg": bytes((i * 37 + 11) % 256 for i in range(2048)),
        "broken_header_only.msg": write_cfb(simple())[:512],
    }
    for name, data in sorted(files.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print("%-28s %7d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
