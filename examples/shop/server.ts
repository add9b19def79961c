/**
 * Runs the example shop: `npx tsx examples/shop/server.ts` from a folder holding
 * safetynet.config.json (or with SAFETYNET_CONFIG set). See examples/shop/README.md.
 */
import { createLogger, loadConfig } from 'safetynet';
import { buildShop, hashPassword } from './app.js';

const config = loadConfig();
const log = await createLogger({ config });
log.installProcessHandlers();
const password = process.env.SHOP_ADMIN_PASSWORD ?? 'change-me-now';
const shop = await buildShop({
  config,
  log,
  webhookSecret: process.env.STRIPE_WEBHOOK_SECRET ?? 'whsec_example_shop_local',
  admins: { admin: hashPassword(password) },
  cookieSecret: process.env.SHOP_COOKIE_SECRET ?? 'example-shop-cookie-secret-change-me',
});
const port = Number(process.env.PORT ?? 4000);
const address = await shop.app.listen({ host: '127.0.0.1', port });
process.stdout.write(
  `example shop on ${address} (admin / ${process.env.SHOP_ADMIN_PASSWORD ? '…' : password})\n`,
);
const stop = async () => {
  await shop.app.close();
  await log.close();
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
