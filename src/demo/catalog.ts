/**
 * The sample shop's fixed catalogue and the word lists its customers and addresses are drawn from.
 * A small homeware shop: 40 products, one image each. Everything here is invented; the e-mail
 * domains are reserved example domains, the addresses fictional.
 */

export const SHOP_NAME = 'Linden & Oak Homeware';
export const SHOP_ADDRESS = 'Lindenallee 12, 10115 Berlin, Germany';
export const SHOP_VAT_ID = 'DE000000000';
export const CURRENCY = 'EUR';
/** VAT rate included in every price (the demo keeps to one rate). */
export const VAT_RATE = 0.19;

export interface CatalogProduct {
  sku: string;
  name: string;
  priceCents: number;
  /** Colour of the product image, RGB. */
  colour: [number, number, number];
}

const ITEMS: [string, number][] = [
  ['Stoneware mug, sand', 1490],
  ['Stoneware mug, navy', 1490],
  ['Linen tea towel, olive', 1290],
  ['Linen tea towel, natural', 1290],
  ['Oak serving board, large', 4900],
  ['Oak serving board, small', 2900],
  ['Beeswax candle, pair', 1890],
  ['Lavender scented candle', 2290],
  ['Cotton throw, grey', 6900],
  ['Wool blanket, red check', 11900],
  ['Ceramic vase, white', 3490],
  ['Glass carafe, 1 l', 2690],
  ['Enamel colander', 3290],
  ['Cast iron pan, 26 cm', 7900],
  ['Walnut salad servers', 2490],
  ['Copper watering can', 5900],
  ['Canvas tote bag', 1990],
  ['Leather key ring', 1290],
  ['Recycled glass tumbler, set of 4', 2990],
  ['Bamboo dish brush', 790],
  ['Hand-thrown bowl, speckled', 2790],
  ['Espresso cups, set of 2', 2190],
  ['French press, 0.8 l', 3990],
  ['Tea caddy, tin', 1590],
  ['Bread bin, wood and steel', 5490],
  ['Herb planter, terracotta', 2390],
  ['Garden twine, jute', 690],
  ['Wool slippers, size 40', 4490],
  ['Linen cushion cover, sand', 2990],
  ['Linen napkins, set of 4', 3290],
  ['Olive oil bottle, pourer', 1890],
  ['Marble pestle and mortar', 3690],
  ['Wooden spoon set', 1990],
  ['Glass storage jar, 1 l', 1290],
  ['Waxed cotton apron', 3990],
  ['Table runner, striped', 3490],
  ['Porcelain teapot', 4590],
  ['Salt cellar with lid', 1690],
  ['Picnic blanket, waterproof', 5990],
  ['Hanging planter, macrame', 2890],
];

/** The 40 products, in a fixed order (product id = index + 1). */
export const CATALOG: readonly CatalogProduct[] = ITEMS.map(([name, priceCents], i) => ({
  sku: `LO-${String(1001 + i)}`,
  name,
  priceCents,
  colour: [(53 + i * 97) % 200 + 40, (91 + i * 53) % 200 + 40, (17 + i * 151) % 200 + 40],
}));

export const FIRST_NAMES = [
  'Anna', 'Ben', 'Clara', 'David', 'Emma', 'Felix', 'Greta', 'Hugo', 'Ida', 'Jonas', 'Lena', 'Max',
  'Nina', 'Oskar', 'Paula', 'Quentin', 'Rosa', 'Samuel', 'Tara', 'Umar', 'Vera', 'Wim', 'Yara', 'Zoe',
];
export const LAST_NAMES = [
  'Mueller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker', 'Hoffmann',
  'Koch', 'Bauer', 'Richter', 'Klein', 'Wolf', 'Neumann', 'Schwarz', 'Braun', 'Hofmann', 'Lange',
];
/** Reserved example domains (RFC 2606), so no real mailbox is ever named. */
export const EMAIL_DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example'];
export const STREETS = [
  'Hauptstrasse', 'Bahnhofstrasse', 'Gartenweg', 'Lindenallee', 'Schulstrasse', 'Bergstrasse',
  'Am Markt', 'Rosenweg', 'Kirchplatz', 'Mozartstrasse',
];
export const CITIES = [
  '10115 Berlin', '20095 Hamburg', '80331 Muenchen', '50667 Koeln', '60311 Frankfurt',
  '70173 Stuttgart', '04109 Leipzig', '28195 Bremen', '01067 Dresden', '90402 Nuernberg',
];
