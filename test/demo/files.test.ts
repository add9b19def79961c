import { describe, expect, it } from 'vitest';
import { pdfString, renderPdf } from '../../src/demo/pdf.js';
import { encodePng, productImage } from '../../src/demo/png.js';
import { invoicePdf } from '../../src/demo/invoice.js';
import { createRng } from '../../src/demo/rng.js';
import { pdfProblem, pngProblem } from './helpers.js';

describe('sample files', () => {
  it('escapes PDF strings so no name can break the syntax', () => {
    expect(pdfString('a (b) \\ c')).toBe('(a \\(b\\) \\\\ c)');
    expect(pdfString('Zoë €5\n')).toBe('(Zoë ?5?)');
  });

  it('writes well-formed PDFs, and the checker notices a broken one', () => {
    const inv = {
      number: 'INV-2026-000007',
      orderId: 1042,
      issuedAt: '2026-11-26T14:00:00.000Z',
      customerName: 'Ida (Test) \\ Koch',
      customerEmail: 'ida.koch.1@example.com',
      address: 'Ida Koch, Rosenweg 3, 10115 Berlin, DE',
      lines: [{ sku: 'LO-1001', name: 'Stoneware mug, sand', quantity: 2, unitPriceCents: 1490 }],
      totalCents: 2980,
      currency: 'EUR',
      paymentRef: 'pi_x',
    };
    const pdf = invoicePdf(inv);
    expect(pdfProblem(pdf)).toBeNull();
    // Deterministic: the same invoice gives the same bytes (a re-created file is identical).
    expect(invoicePdf(inv).equals(pdf)).toBe(true);
    const at = pdf.indexOf('Stoneware');
    const broken = Buffer.concat([pdf.subarray(0, at), Buffer.from('X'), pdf.subarray(at)]);
    expect(pdfProblem(broken)).toMatch(/Length|xref/);
    expect(pdfProblem(renderPdf({ title: 't', created: new Date(0), elements: [] }))).toBeNull();
  });

  it('writes valid PNGs, and the checker notices a flipped byte', () => {
    const png = productImage([200, 100, 50], createRng(1));
    expect(pngProblem(png)).toBeNull();
    const flipped = Buffer.from(png);
    flipped[40] = flipped[40]! ^ 0xff;
    expect(pngProblem(flipped)).toMatch(/CRC/);
    expect(() => encodePng(2, 2, new Uint8Array(5))).toThrow(/wrong size/);
  });
});
