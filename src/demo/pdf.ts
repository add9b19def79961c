/**
 * A minimal PDF 1.4 writer: one A4 page of text and rules in the standard Helvetica fonts, with a
 * correct cross-reference table, so every PDF reader opens it. Enough for sample invoices without
 * a PDF library (none is installed, and the demo must not add one). Output is deterministic: the
 * same input gives the same bytes (no "now" inside), so re-creating a missing sample invoice
 * writes exactly what was there.
 */

export interface PdfText {
  kind: 'text';
  /** Points from the left edge. */
  x: number;
  /** Points from the bottom edge. */
  y: number;
  size: number;
  bold?: boolean;
  text: string;
}

export interface PdfRule {
  kind: 'rule';
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export type PdfElement = PdfText | PdfRule;

export interface PdfDocument {
  title: string;
  /** Written as the document's CreationDate. */
  created: Date;
  elements: PdfElement[];
}

/** A4 in points. */
export const PAGE_WIDTH = 595;
export const PAGE_HEIGHT = 842;

/**
 * A PDF string literal: WinAnsi (Latin-1) bytes, with `\`, `(` and `)` escaped. Characters outside
 * Latin-1 and control characters become "?" so a name from anywhere can never break the syntax.
 */
export function pdfString(text: string): string {
  let out = '(';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\' || ch === '(' || ch === ')') out += '\\' + ch;
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0) || code > 0xff) out += '?';
    else out += ch;
  }
  return out + ')';
}

function pdfDate(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `D:${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

function contentStream(elements: PdfElement[]): string {
  const ops: string[] = [];
  for (const e of elements) {
    if (e.kind === 'text') {
      ops.push(`BT /${e.bold ? 'F2' : 'F1'} ${num(e.size)} Tf 1 0 0 1 ${num(e.x)} ${num(e.y)} Tm ${pdfString(e.text)} Tj ET`);
    } else {
      ops.push(`0.6 w ${num(e.x1)} ${num(e.y1)} m ${num(e.x2)} ${num(e.y2)} l S`);
    }
  }
  return ops.join('\n') + '\n';
}

/** Renders the document as PDF bytes (starting with `%PDF-1.4`, ending with `%%EOF\n`). */
export function renderPdf(doc: PdfDocument): Buffer {
  const content = Buffer.from(contentStream(doc.elements), 'latin1');
  const objects: Buffer[] = [
    Buffer.from('<< /Type /Catalog /Pages 2 0 R >>'),
    Buffer.from('<< /Type /Pages /Kids [3 0 R] /Count 1 >>'),
    Buffer.from(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${PAGE_WIDTH} ${PAGE_HEIGHT}] ` +
        '/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>',
    ),
    Buffer.from('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>'),
    Buffer.from('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>'),
    Buffer.concat([
      Buffer.from(`<< /Length ${content.length} >>\nstream\n`),
      content,
      Buffer.from('endstream'),
    ]),
    Buffer.from(
      `<< /Title ${pdfString(doc.title)} /Producer (safetynet demo) /CreationDate ${pdfString(pdfDate(doc.created))} >>`,
      'latin1',
    ),
  ];
  // The second line's high bytes tell transfer tools the file is binary (PDF spec 7.5.2).
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let offset = parts[0]!.length;
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(offset);
    const obj = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), body, Buffer.from('\nendobj\n')]);
    parts.push(obj);
    offset += obj.length;
  });
  // Each cross-reference entry is exactly 20 bytes: 10-digit offset, 5-digit generation, type, EOL.
  let xref = `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) xref += `${String(o).padStart(10, '0')} 00000 n \n`;
  xref += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Info 7 0 R >>\nstartxref\n${offset}\n%%EOF\n`;
  parts.push(Buffer.from(xref));
  return Buffer.concat(parts);
}
