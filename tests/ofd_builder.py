"""A test fixture builder: writes small OFD files (GB/T 33190-2016) laid out as an OFD producer lays
out a 公文, so the reader is tested on the structure real files have and on text nobody else has.

What it writes: OFD.xml (DocInfo with the title, DocRoot), Doc_0/Document.xml (CommonData with the
page area, PublicRes and a TemplatePage; Pages), Doc_0/PublicRes.xml (the fonts), a template page
with the page footer, and one Pages/Page_N/Content.xml per page: a Layer of TextObjects, one per
line, each with Boundary, Font, Size and a TextCode carrying X, Y (the baseline) and DeltaX in the
"g N v" short form. Paragraphs are wrapped at the text width with a two-character first-line
indent, as Chinese documents are; a table row is one TextObject per cell on one baseline.
A page may instead carry one full-page picture (`Page.scan`), declared as a MultiMedia resource in
Doc_0/DocumentRes.xml and drawn by an ImageObject: a sealed scan saved as OFD. Not a general OFD
writer: no paths, signatures or embedded fonts.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS = "http://www.ofdspec.org/2016"
PAGE_W, PAGE_H = 210.0, 297.0  # A4, mm
LEFT, TOP, WIDTH = 28.0, 37.0, 156.0  # the 公文 type area (GB/T 9704)
SIZE = 5.6  # 三号 (16 pt) in mm
LINE = 10.0  # baseline to baseline
TEMPLATE_TEXT = "内部资料"  # on the template page, so on every page


@dataclass
class Page:
    """Blocks in reading order: ("p", text) a paragraph, ("h", text) a centred heading, ("row", cells)."""

    blocks: list[tuple[str, object]] = field(default_factory=list)
    image: bytes = b""  # a PNG drawn over the whole page, when the page is a scan

    def heading(self, text: str) -> Page:
        self.blocks.append(("h", text))
        return self

    def paragraph(self, text: str) -> Page:
        self.blocks.append(("p", text))
        return self

    def row(self, *cells: str) -> Page:
        self.blocks.append(("row", cells))
        return self

    def scan(self, png: bytes) -> Page:
        self.image = png
        return self


def build_ofd(pages: list[Page], title: str = "", footer: bool = True, shuffle: bool = True) -> bytes:
    """The .ofd bytes. `shuffle` writes each page's TextObjects bottom line first, so a reader that
    keeps file order instead of reading by position gets it wrong."""
    scans = [n for n, page in enumerate(pages) if page.image]
    files = {"OFD.xml": _ofd_xml(title), "Doc_0/Document.xml": _document_xml(len(pages), footer, bool(scans)),
             "Doc_0/PublicRes.xml": _public_res()}
    if scans:
        files["Doc_0/DocumentRes.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Res xmlns:ofd="{NS}" BaseLoc="Res"><ofd:MultiMedias>'
            + "".join(f'<ofd:MultiMedia ID="{500 + n}" Type="Image" Format="PNG"><ofd:MediaFile>scan_{n}.png'
                      "</ofd:MediaFile></ofd:MultiMedia>" for n in scans) + "</ofd:MultiMedias></ofd:Res>")
        for n in scans:
            files[f"Doc_0/Res/scan_{n}.png"] = pages[n].image
    ids = iter(range(1000, 10**6))
    if footer:
        files["Doc_0/Tpls/Tpl_0/Content.xml"] = _content([], ids, template=True)
    for n, page in enumerate(pages):
        objects = list(_layout(page, ids))
        if page.image:
            objects.append(f'<ofd:ImageObject ID="{next(ids)}" ResourceID="{500 + n}" '
                           f'Boundary="0 0 {PAGE_W:g} {PAGE_H:g}" CTM="{PAGE_W:g} 0 0 {PAGE_H:g} 0 0"/>')
        if footer:  # the page number, as 公文 print it, drawn by the page itself
            label = f"— {n + 1} —"
            objects.append(_text_object(next(ids), (PAGE_W - len(label) * SIZE / 2) / 2, 280.0, label))
        files[f"Doc_0/Pages/Page_{n}/Content.xml"] = _content(objects[::-1] if shuffle else objects, ids,
                                                             template=False, footer=footer)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buffer.getvalue()


def _ofd_xml(title: str) -> str:
    info = "<ofd:DocID>0123456789abcdef0123456789abcdef</ofd:DocID>" + (
        f"<ofd:Title>{escape(title)}</ofd:Title>" if title else "") + "<ofd:CreationDate>2026-10-08</ofd:CreationDate>"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:OFD xmlns:ofd="{NS}" Version="1.0" DocType="OFD">'
            f"<ofd:DocBody><ofd:DocInfo>{info}</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"
            "</ofd:DocBody></ofd:OFD>")


def _document_xml(pages: int, footer: bool, media: bool = False) -> str:
    template = '<ofd:TemplatePage ID="2" BaseLoc="Tpls/Tpl_0/Content.xml"/>' if footer else ""
    page_list = "".join(f'<ofd:Page ID="{10 + n}" BaseLoc="Pages/Page_{n}/Content.xml"/>' for n in range(pages))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Document xmlns:ofd="{NS}"><ofd:CommonData>'
            f"<ofd:MaxUnitID>999999</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 {PAGE_W:g} {PAGE_H:g}"
            f"</ofd:PhysicalBox></ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes>"
            f"{'<ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes>' if media else ''}{template}"
            f"</ofd:CommonData><ofd:Pages>{page_list}</ofd:Pages></ofd:Document>")


def _public_res() -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Res xmlns:ofd="{NS}" BaseLoc="Res"><ofd:Fonts>'
            '<ofd:Font ID="3" FontName="仿宋_GB2312" FamilyName="仿宋"/><ofd:Font ID="4" FontName="黑体" FamilyName="黑体"/>'
            "</ofd:Fonts></ofd:Res>")


def _content(objects: list[str], ids, template: bool, footer: bool = False) -> str:
    tpl = '<ofd:Template TemplateID="2" ZOrder="Background"/>' if footer and not template else ""
    if template:  # what every page shows: a header line and a rule under it
        objects = [_text_object(5, LEFT, 22.0, TEMPLATE_TEXT),
                   ('<ofd:PathObject ID="6" Boundary="28 30 156 1" LineWidth="0.5"><ofd:AbbreviatedData>'
                    "M 0 0 L 156 0</ofd:AbbreviatedData></ofd:PathObject>")]
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Page xmlns:ofd="{NS}">{tpl}<ofd:Content>'
            f'<ofd:Layer ID="{next(ids)}">{"".join(objects)}</ofd:Layer></ofd:Content></ofd:Page>')


def _layout(page: Page, ids):
    y = TOP
    for kind, value in page.blocks:
        if kind == "h":
            text = str(value)
            yield _text_object(next(ids), LEFT + (WIDTH - len(text) * SIZE) / 2, y, text, font="4")
            y += LINE * 1.5
        elif kind == "row":
            cells = list(value)
            column = WIDTH / len(cells)
            for i, cell in enumerate(cells):
                yield _text_object(next(ids), LEFT + i * column, y, cell)
            y += LINE
        else:
            text, first = str(value), True
            while text:
                room, cut = WIDTH - (2 * SIZE if first else 0), 0
                while cut < len(text) and room >= _advance(text[cut]):
                    room -= _advance(text[cut])
                    cut += 1
                yield _text_object(next(ids), LEFT + (2 * SIZE if first else 0), y, text[:cut])
                text, first = text[cut:], False
                y += LINE


def _text_object(object_id: int, x: float, baseline: float, text: str, font: str = "3") -> str:
    # Boundary's origin is the line box's top left; the TextCode's Y is the baseline inside it
    advances = [_advance(ch) for ch in text[:-1]]
    delta = _short_form(advances)
    width = sum(advances) + SIZE
    return (f'<ofd:TextObject ID="{object_id}" Boundary="{x:.3f} {baseline - SIZE:.3f} {width:.3f} {SIZE * 1.4:.3f}" '
            f'Font="{font}" Size="{SIZE}"><ofd:FillColor Value="0 0 0"/>'
            f'<ofd:TextCode X="0" Y="{SIZE:.3f}"{f" DeltaX={quoteattr(delta)}" if delta else ""}>'
            f"{escape(text)}</ofd:TextCode></ofd:TextObject>")


def _advance(ch: str) -> float:
    return SIZE if ord(ch) >= 0x2E80 else SIZE / 2


def _short_form(values: list[float]) -> str:
    """DeltaX as producers write it: runs of one value as "g N v"."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        out.append(f"g {j - i} {values[i]:g}" if j - i > 1 else f"{values[i]:g}")
        i = j
    return " ".join(out)
