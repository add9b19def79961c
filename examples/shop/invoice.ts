/**
 * Invoice PDFs: a one-page PDF 1.4 with the order's lines, written into the invoice folder that
 * safetynet backs up (`backup.files` → `invoices`). Written to a temporary name and renamed, so a
 * backup never sees half an invoice.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export interface InvoiceLine {
  name: string;
  qty: number;
  priceCents: number;
}

const euro = (cents: number) => `EUR ${(cents / 100).toFixed(2)}`;
const pdfText = (s: string) => s.replace(/[\\()]/g, '\\$&').replace(/[^\x20-\x7e]/g, '?');

/** A minimal valid PDF with one page of text lines. */
export function invoicePdf(number: string, orderId: number, email: string, lines: InvoiceLine[]): Buffer {
  const total = lines.reduce((s, l) => s + l.qty * l.priceCents, 0);
  const rows = [
    `Invoice ${number}`,
    `Order ${orderId} - ${email}`,
    '',
    ...lines.map((l) => `${l.qty} x ${l.name}  ${euro(l.qty * l.priceCents)}`),
    '',
    `Total ${euro(total)}`,
  ];
  const content = rows.map((r, i) => `BT /F1 12 Tf 60 ${780 - i * 18} Td (${pdfText(r)}) Tj ET`).join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(content)} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(Buffer.byteLength(out));
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out);
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** Writes the PDF to `<dir>/<year>/<number>.pdf` and returns its path. */
export function writeInvoice(dir: string, number: string, pdf: Buffer, year: number): string {
  const folder = path.join(dir, String(year));
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${number}.pdf`);
  writeFileSync(file + '.tmp', pdf);
  renameSync(file + '.tmp', file);
  return file;
}
