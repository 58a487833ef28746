"""A quote as a PDF: the company and the customer, the lines and totals, notes and terms, and
lines for both sides to sign. Draws a `QuoteDocument`, the same object the printable page
shows, in the document's language."""

from flask_babel import force_locale
from flask_babel import gettext as _
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from crm_web.documents.pdf import MARGIN, MUTED, DocumentPDF, Text
from crm_web.pipeline.quote_documents import Party, QuoteDocument

# Column widths of the lines table (mm, 174 in all): #, description, qty, price, discount, total.
COLUMNS = (8, 70, 18, 28, 18, 32)
ALIGN = ("RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
HEADING_FILL = (240, 242, 245)
SIGNATURE_HEIGHT = 46


def render_quote_pdf(document: QuoteDocument) -> bytes:
    """The PDF bytes of the quote."""
    with force_locale(document.language):
        pdf = DocumentPDF(
            title=_("Quote %(number)s, version %(version)s")
            % {"number": document.quote_number, "version": document.version},
            author=document.company.name,
            language=document.language,
            footer=f"{document.company.name} · {document.quote_number} v{document.version}",
            page_label=_("Page %(page)s of %(pages)s"),
        )
        pdf.add_page()
        _head(pdf, document)
        _parties(pdf, document)
        _lines(pdf, document)
        _totals(pdf, document)
        _texts(pdf, document)
        _signatures(pdf, document)
        return pdf.to_bytes()


def _tax_line(party: Party) -> str:
    parts = []
    if party.tax_office:
        parts.append(_("Tax office: %(office)s") % {"office": party.tax_office})
    if party.tax_number:
        parts.append(_("Tax number: %(number)s") % {"number": party.tax_number})
    return " · ".join(parts)


def _head(pdf: DocumentPDF, document: QuoteDocument) -> None:
    """The company on the left; the word QUOTE, its number, version and dates on the right."""
    top = pdf.get_y()
    company = document.company
    left_end = pdf.block(
        pdf.l_margin,
        top,
        100,
        [
            Text(company.name, size=15, bold=True),
            *(Text(line, size=8.5, muted=True) for line in company.lines),
            Text(_tax_line(company), size=8.5, muted=True),
        ],
    )
    right_x = pdf.l_margin + 104
    right_width = pdf.content_width - 104
    title = [Text(_("QUOTE"), size=18, bold=True)]
    if document.is_draft:
        title.append(Text(_("DRAFT: not approved, not an offer"), size=8.5, bold=True, muted=True))
    pdf.block(right_x, top, right_width, title, align="R")
    pdf.ln(1.5)
    facts = (
        (_("Quote no."), document.quote_number),
        (_("Version"), str(document.version)),
        (_("Date"), document.issued),
        (_("Valid until"), document.valid_until),
    )
    for label, value in facts:
        pdf.set_x(right_x)
        pdf.style(size=8.5, muted=True)
        pdf.cell(right_width - 42, 4.6, label, align="R")
        pdf.style(size=8.5, bold=True)
        pdf.cell(42, 4.6, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(left_end, pdf.get_y()) + 5)
    pdf.rule()
    pdf.ln(5)


def _parties(pdf: DocumentPDF, document: QuoteDocument) -> None:
    """To whom (the billing address) and from whom (the person who prepared it)."""
    top = pdf.get_y()
    customer = document.customer
    left_end = pdf.block(
        pdf.l_margin,
        top,
        100,
        [
            Text(_("Bill to"), size=8, muted=True),
            Text(customer.name, size=11, bold=True),
            *(Text(line) for line in customer.lines),
            Text(_tax_line(customer), size=8.5, muted=True),
        ],
    )
    right = [Text(_("Deal"), size=8, muted=True), Text(document.deal_name)]
    if document.prepared_by:
        right += [Text(_("Prepared by"), size=8, muted=True), Text(document.prepared_by)]
    right_end = pdf.block(pdf.l_margin + 104, top, pdf.content_width - 104, right)
    pdf.set_y(max(left_end, right_end) + 7)
    pdf.block(pdf.l_margin, pdf.get_y(), pdf.content_width, [Text(document.title, 13, True)])
    pdf.ln(3)


def _lines(pdf: DocumentPDF, document: QuoteDocument) -> None:
    pdf.style(size=8.5)
    with pdf.table(
        col_widths=COLUMNS,
        text_align=ALIGN,
        width=pdf.content_width,
        borders_layout="HORIZONTAL_LINES",
        headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
        line_height=4.6,
        padding=(1.6, 1.2),
    ) as table:
        heading = table.row()
        for title in (
            "#",
            _("Product or service"),
            _("Qty"),
            _("Unit price"),
            _("Discount"),
            _("Amount"),
        ):
            heading.cell(title)
        for line in document.lines:
            row = table.row()
            for value in (
                str(line.position),
                line.description,
                line.quantity,
                line.unit_price,
                line.discount,
                line.total,
            ):
                row.cell(value)
    pdf.ln(3)


def _totals(pdf: DocumentPDF, document: QuoteDocument) -> None:
    """Subtotal, discount, tax and the total, right-aligned under the amounts."""
    rows = [(_("Subtotal"), document.subtotal)]
    if document.discount_percent:
        rows.append(
            (_("Discount %(rate)s") % {"rate": document.discount_percent}, document.discount)
        )
    rows.append((_("Tax %(rate)s") % {"rate": document.tax_rate}, document.tax))
    if pdf.room_left < 6 * (len(rows) + 1):
        pdf.add_page()
    label_x = pdf.l_margin + pdf.content_width - 96
    for label, value in rows:
        pdf.set_x(label_x)
        pdf.style(size=9, muted=True)
        pdf.cell(60, 5.5, label, align="R")
        pdf.style(size=9)
        pdf.cell(36, 5.5, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.rule(x=label_x + 20, width=76)
    pdf.ln(1)
    pdf.set_x(label_x)
    pdf.style(size=11, bold=True)
    pdf.cell(60, 7, _("Total"), align="R")
    pdf.cell(36, 7, document.total, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _texts(pdf: DocumentPDF, document: QuoteDocument) -> None:
    for heading, body in ((_("Notes"), document.notes), (_("Terms"), document.terms)):
        if body.strip():
            pdf.block(
                pdf.l_margin,
                pdf.get_y(),
                pdf.content_width,
                [Text(heading, size=9, bold=True), Text(body.strip(), size=8.5)],
            )
            pdf.ln(3)


def _signatures(pdf: DocumentPDF, document: QuoteDocument) -> None:
    """A box for each side: name, signature and date on lines, kept together on one page."""
    if pdf.room_left < SIGNATURE_HEIGHT:
        pdf.add_page()
    pdf.ln(4)
    top = pdf.get_y()
    width = (pdf.content_width - 14) / 2
    sides = (
        _("For %(company)s") % {"company": document.company.name},
        _("Accepted for %(customer)s") % {"customer": document.customer.name},
    )
    for index, heading in enumerate(sides):
        x = pdf.l_margin + index * (width + 14)
        y = pdf.block(x, top, width, [Text(heading, size=9, bold=True)]) + 2
        for label in (_("Name"), _("Signature"), _("Date")):
            y += 9
            pdf.rule(y, x=x, width=width)
            pdf.set_xy(x, y + 0.5)
            pdf.set_font(size=7.5)
            pdf.set_text_color(*MUTED)
            pdf.cell(width, 3.5, label)
    pdf.set_y(top + SIGNATURE_HEIGHT - MARGIN / 2)
