"""Renderings of a notice letter for the tests: the fixture as a PDF (made here with
WeasyPrint, read back with pypdf), and the text mangled the ways pasting and PDF text
extraction mangle it."""

from __future__ import annotations

import html
import re
from pathlib import Path

# The Commission's letter of 2021-03-17 to a gateway provider (a public letter; the team's
# shared/fixtures/ copy, kept in the repo so that a clone alone runs the tests).
FIXTURE = Path(__file__).resolve().parent / "data" / "notices" / "notice-2021-03-17.txt"


def fixture_text() -> str:
    return FIXTURE.read_text()


def split_letter(text: str) -> tuple[str, list[list[str]]]:
    """The letter before Attachment A, and the attachment's rows as cells (tab-separated)."""
    at = text.index("ATTACHMENT A")
    rows = [
        line.split("\t")
        for line in text[at:].splitlines()
        if "\t" in line and not line.startswith("Customer")
    ]
    return text[:at], rows


HEADER = ["Customer", "Date of Call", "Caller ID", "Called Number", "Description", "Violation"]


def to_pdf(text: str, out: Path, *, rows_per_page: int = 18) -> Path:
    """The letter as a PDF: the body as paragraphs, Attachment A as a table split over pages
    with the column headings repeated on each page."""
    import weasyprint

    body, rows = split_letter(text)
    # one paragraph per blank-line block, its lines kept (a letter's address block is lines)
    paras = "".join(
        f"<p>{'<br>'.join(html.escape(x) for x in p.strip().splitlines())}</p>"
        for p in body.split("\n\n")
        if p.strip()
    )
    pages = []
    for i in range(0, len(rows), rows_per_page):
        head = "".join(f"<th>{h}</th>" for h in HEADER)
        trs = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
            for r in rows[i : i + rows_per_page]
        )
        pages.append(
            f"<h2>ATTACHMENT A</h2><table><tr>{head}</tr>{trs}</table>"
            f"<p class='pg'>Page {i // rows_per_page + 1}</p>"
        )
    style = (
        "@page{size:letter;margin:1.6cm} body{font:10pt DejaVu Sans}"
        " table{border-collapse:collapse;font-size:7pt;width:100%}"
        " td,th{border:1px solid #999;padding:2px} .att{page-break-before:always}"
    )
    doc = (
        f"<html><head><style>{style}</style></head><body>{paras}"
        + "".join(f"<div class='att'>{p}</div>" for p in pages)
        + "</body></html>"
    )
    weasyprint.HTML(string=doc).write_pdf(out)
    return out


def with_spaces(text: str) -> str:
    """Cells separated by runs of spaces instead of tabs (a paste from a PDF viewer)."""
    return text.replace("\t", "   ")


def wrapped(text: str, width: int = 38) -> str:
    """Every attachment row wrapped over several lines, as a narrow text extraction does."""
    body, rows = split_letter(text)
    lines = []
    for r in rows:
        line = "  ".join(c for c in r)
        while len(line) > width:
            cut = line.rfind(" ", 0, width)
            cut = cut if cut > 0 else width
            lines.append(line[:cut])
            line = line[cut:].lstrip()
        lines.append(line)
    return body + "ATTACHMENT A\n" + "  ".join(HEADER) + "\n" + "\n".join(lines) + "\n"


def with_page_furniture(text: str, every: int = 7) -> str:
    """Page headers, footers and repeated column headings in the middle of the table."""
    body, rows = split_letter(text)
    lines = ["ATTACHMENT A", "\t".join(HEADER)]
    for i, r in enumerate(rows, start=1):
        lines.append("\t".join(r))
        if i % every == 0:
            lines += ["", f"Page {i // every + 1} of 9", "Federal Communications Commission",
                      "ATTACHMENT A (continued)", "\t".join(HEADER)]  # fmt: skip
    return body + "\n".join(lines) + "\n"


def flattened(text: str) -> str:
    """The attachment as one line: what some extractions make of a table."""
    body, rows = split_letter(text)
    flat = " ".join(" ".join(c for c in r if c) for r in rows)
    return body + "ATTACHMENT A " + " ".join(HEADER) + " " + re.sub(r"\s+", " ", flat) + "\n"


def pdf_text(path: Path) -> str:
    """The text of a PDF the tests rendered (reports, letters), read back with pypdf."""
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(path).pages)
