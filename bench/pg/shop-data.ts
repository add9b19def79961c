/**
 * The benchmark's shop database on PostgreSQL: random ids (pgbench data compresses ~20× and flatters
 * everyone), ~400-byte webhook JSON per payment, three items and three inventory movements per
 * order, and a `ticks` table the RPO measurement writes into. About 1.4 MiB per 1,000 orders.
 */
import type { TestCluster } from '../../test/backup/postgres/cluster.js';

/** Creates the schema and `orders` orders (with their items, payments and movements). */
export async function fillShop(c: TestCluster, orders: number): Promise<void> {
  await c.query(`
    CREATE TABLE products (id bigint PRIMARY KEY, name text, description text, price_cents int);
    INSERT INTO products SELECT (random()*9e15)::bigint + g, 'product ' || g, repeat(md5(random()::text), 8), (random()*10000)::int FROM generate_series(1, 20000) g;
    CREATE TABLE orders (id bigint PRIMARY KEY, email text, status text, total_cents int, created_at timestamptz, address text);
    CREATE TABLE order_items (id bigserial PRIMARY KEY, order_id bigint, product_id bigint, qty int, price_cents int);
    CREATE TABLE payments (id bigserial PRIMARY KEY, order_id bigint, raw jsonb);
    CREATE TABLE inventory_movements (id bigserial PRIMARY KEY, product_id bigint, delta int, at timestamptz);
    CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());`);
  const batch = 100_000;
  for (let done = 0; done < orders; done += batch) {
    const n = Math.min(batch, orders - done);
    await c.query(`
      WITH o AS (
        INSERT INTO orders SELECT (random()*9e15)::bigint * 1000 + (g % 1000), md5(random()::text) || '@example.com',
          (ARRAY['new','paid','shipped','refunded'])[1 + (random()*3)::int], (random()*50000)::int,
          now() - random() * interval '400 days', md5(random()::text) || ' ' || md5(random()::text) || ' Street 1, 10115 Berlin'
        FROM generate_series(1, ${n}) g ON CONFLICT DO NOTHING RETURNING id)
      , i AS (INSERT INTO order_items (order_id, product_id, qty, price_cents)
          SELECT o.id, (random()*9e15)::bigint, 1 + (random()*3)::int, (random()*10000)::int FROM o, generate_series(1, 3))
      , m AS (INSERT INTO inventory_movements (product_id, delta, at)
          SELECT (random()*9e15)::bigint, -1, now() FROM o, generate_series(1, 3))
      INSERT INTO payments (order_id, raw) SELECT o.id, jsonb_build_object('id', 'evt_' || md5(random()::text),
          'object', 'event', 'type', 'payment_intent.succeeded', 'data', jsonb_build_object('amount', (random()*50000)::int,
          'currency', 'eur', 'customer', 'cus_' || md5(random()::text), 'payment_method', 'pm_' || md5(random()::text),
          'receipt_email', md5(random()::text) || '@example.com', 'metadata', jsonb_build_object('order', o.id::text, 'note', md5(random()::text)))) FROM o`);
  }
  await c.query(
    'CREATE INDEX ON orders (created_at); CREATE INDEX ON order_items (order_id); CREATE INDEX ON payments (order_id)',
  );
  await c.query('VACUUM ANALYZE');
}
