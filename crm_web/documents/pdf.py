"""An A4 page with our fonts, a footer and a few drawing helpers, for every PDF we make.

fpdf2 draws the PDF in pure Python (its dependencies, fontTools, Pillow and defusedxml, come
as wheels), so `make run` on a fresh machine needs nothing from the system. WeasyPrint would
render our HTML, but it needs Pango from the system; ReportLab's bundled fonts have no
Turkish letters either. The fonts are DejaVu Sans, shipped in `fonts/` (see its README):
Turkish letters and ₺ print wherever the PDF is opened, embedded as a subset of what is used.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

FONT_DIR = Path(__file__).parent / "fonts"
FAMILY = "DejaVu"
MARGIN = 18  # mm, on every side
FOOTER_HEIGHT = 12
INK = (31, 41, 51)
MUTED = (107, 119, 133)
RULE = (200, 205, 212)


@dataclass(frozen=True)
class Text:
    """One paragraph of a block: its words, size in points, bold or not, muted or not."""

    text: str
    size: float = 9.5
    bold: bool = False
    muted: bool = False


class DocumentPDF(FPDF):
    """A4 portrait with 18 mm margins; the footer names the document and counts the pages."""

    def __init__(self, *, title: str, author: str, language: str, footer: str, page_label: str):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.add_font(FAMILY, "", FONT_DIR / "DejaVuSans.ttf")
        self.add_font(FAMILY, "B", FONT_DIR / "DejaVuSans-Bold.ttf")
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + FOOTER_HEIGHT)
        self.set_title(title)
        self.set_author(author)
        self.set_creator(author)
        self.set_lang(language)
        self.footer_text = footer
        # "Page %(page)s of %(pages)s": fpdf2 replaces {nb} with the page count at the end.
        self.page_label = page_label
        self.set_text_color(*INK)
        self.set_draw_color(*RULE)

    @property
    def content_width(self) -> float:
        return self.w - self.l_margin - self.r_margin

    @property
    def room_left(self) -> float:
        """How much of the page is left above the bottom margin, in mm."""
        return self.page_break_trigger - self.get_y()

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.style(size=7.5, muted=True)
        half = self.content_width / 2
        self.cell(half, 4, self.footer_text, align="L")
        self.cell(half, 4, self.page_label % {"page": self.page_no(), "pages": "{nb}"}, align="R")
        self.set_text_color(*INK)

    def style(self, *, size: float = 9.5, bold: bool = False, muted: bool = False) -> None:
        self.set_font(FAMILY, "B" if bold else "", size)
        self.set_text_color(*(MUTED if muted else INK))

    def block(self, x: float, y: float, width: float, texts: Sequence[Text], align="L") -> float:
        """Paragraphs stacked at (x, y), each wrapped to `width`; returns where the block ends."""
        self.set_xy(x, y)
        for text in texts:
            if not text.text:
                continue
            self.style(size=text.size, bold=text.bold, muted=text.muted)
            self.set_x(x)
            self.multi_cell(
                width, text.size * 0.45, text.text, align=align, new_x=XPos.LEFT, new_y=YPos.NEXT
            )
        self.set_text_color(*INK)
        return self.get_y()

    def rule(self, y: float | None = None, *, x: float | None = None, width: float | None = None):
        """A thin line across the content (or from x over width) at y."""
        y = self.get_y() if y is None else y
        x = self.l_margin if x is None else x
        self.line(x, y, x + (self.content_width if width is None else width), y)

    def to_bytes(self) -> bytes:
        return bytes(self.output())
